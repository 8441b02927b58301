"""Identity resolution: each system finds its own rows for an email (zero, one, several)."""

from __future__ import annotations

from privacyops.execution.registry import connector_of_system
from privacyops.tenancy.models import System
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]


def _connector(store, name):
    return connector_of_system(System.objects.get(tenant=store.tenant, name=name))


def _requesters(store, first_id: int, addresses: list[str]) -> None:
    """Helpdesk requesters of the store's workspace with these addresses, written as given."""
    for offset, address in enumerate(addresses):
        store.desk("INSERT INTO requesters (id, workspace_id, email, name, created_at) "
                   "VALUES (?, ?, ?, 'Someone', '2026-01-01')", first_id + offset, store.key,
                   address)


class TestResolveIdentity:
    def test_one_match_in_each_system_by_its_own_key(self, multi_store):
        person_id, email = multi_store.person()
        key = str(multi_store.key)
        assert _connector(multi_store, "demo").resolve_identity({"email": email}, key) == [
            str(person_id)]
        assert _connector(multi_store, "helpdesk").resolve_identity({"email": email}, key) == [
            str(multi_store.requester_of(email))]

    def test_case_and_unicode_variants_of_the_email_match(self, multi_store):
        _person_id, email = multi_store.person()
        helpdesk = _connector(multi_store, "helpdesk")
        key = str(multi_store.key)
        expected = [str(multi_store.requester_of(email))]
        assert helpdesk.resolve_identity({"email": "  " + email.upper() + " "}, key) == expected
        # Fullwidth letters and a compatibility "@" fold to the same address (NFKC).
        fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in email)
        assert fullwidth != email
        assert helpdesk.resolve_identity({"EMAIL": fullwidth}, key) == expected

    def test_wildcard_characters_in_an_address_match_only_themselves(self, multi_store):
        key = multi_store.key
        _requesters(multi_store, 99100, ["ana_b%c@example.org", "anaxbyc@example.org",
                                         "ana_b%c@example_org", "Zoë.A\\B@Example.org"])
        helpdesk = _connector(multi_store, "helpdesk")
        assert helpdesk.resolve_identity({"email": "ANA_B%C@example.org"}, str(key)) == ["99100"]
        assert helpdesk.resolve_identity({"email": "anaxbyc@example.org"}, str(key)) == ["99101"]
        assert helpdesk.resolve_identity({"email": "zoë.a\\b@example.org"}, str(key)) == [
            "99103"]
        # Typed in capitals: folded before the search, it still finds the stored "Zoë".
        assert helpdesk.resolve_identity({"email": "ZOË.A\\B@example.org"}, str(key)) == [
            "99103"]

    def test_stored_capitals_and_spaces_are_found_too(self, multi_store):
        # What the datastore holds may be written any way: capitals, spaces around it.
        key = multi_store.key
        _requesters(multi_store, 99200, ["  Bea.Upper@Example.org ", "BEA.UPPER@example.ORG",
                                         "bea.upper@example.org", "\tbea.upper@example.org"])
        helpdesk = _connector(multi_store, "helpdesk")
        # The tab is not a space the database trims, so that one is another address.
        assert helpdesk.resolve_identity({"email": "bea.upper@example.org"}, str(key)) == [
            "99200", "99201", "99202"]

    def test_no_match_is_an_empty_list(self, multi_store):
        key = str(multi_store.key)
        assert _connector(multi_store, "demo").resolve_identity(
            {"email": "nobody@example.org"}, key) == []

    def test_another_tenants_person_is_not_found(self, multi_store):
        _person_id, email = multi_store.person()
        other = next(k for (k,) in multi_store.app("SELECT DISTINCT workspace_id FROM people")
                     if k != multi_store.key)
        assert _connector(multi_store, "helpdesk").resolve_identity(
            {"email": email}, str(other)) == []

    def test_several_matches_are_all_answered(self, multi_store):
        _person_id, email = multi_store.person()
        multi_store.desk("INSERT INTO requesters (id, workspace_id, email, name, created_at) "
                         "VALUES (99999, ?, ?, 'Second account', '2026-01-01')",
                         multi_store.key, email.upper())
        keys = _connector(multi_store, "helpdesk").resolve_identity(
            {"email": email}, str(multi_store.key))
        assert keys == [str(multi_store.requester_of(email)), "99999"]

    def test_other_identity_fields_the_map_declares(self, multi_store):
        person_id, _email = multi_store.person()
        employee_id = multi_store.app("SELECT employee_id FROM people WHERE id = ?",
                                      person_id)[0][0]
        assert _connector(multi_store, "demo").resolve_identity(
            {"employee_id": employee_id}, str(multi_store.key)) == [str(person_id)]
