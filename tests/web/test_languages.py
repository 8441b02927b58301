"""The public pages speak the visitor's language (English or German); staff pages stay English."""

from __future__ import annotations

import gettext
import re
import subprocess
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache

import privacyops
from tests.intake.conftest import form_data

FORM = "/privacy/request/acme/"
CENTER = "/privacy/acme/"
LOCALE = Path(privacyops.__file__).parent / "locale"
# Emails leave after commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_limits(db):
    cache.clear()
    yield
    cache.clear()


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match, "the page declares its language"
    return match.group(1)


class TestIntakeForm:
    def test_accept_language_de_renders_german(self, client, tenant):
        response = client.get(FORM, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
        page = response.content.decode()
        assert response.status_code == 200
        assert "Datenschutzantrag an Acme Corp stellen" in page
        assert "Antrag absenden" in page
        assert "Auskunft — Art. 15" in page
        assert "Send request" not in page
        assert html_lang(response) == "de"
        assert response["Content-Language"] == "de"
        assert "Accept-Language" in response["Vary"]

    def test_english_browser_gets_english(self, client, tenant):
        response = client.get(FORM, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
        page = response.content.decode()
        assert "Make a privacy request to Acme Corp" in page
        assert "Send request" in page
        assert html_lang(response) == "en"

    def test_first_supported_preference_wins(self, client, tenant):
        response = client.get(FORM, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,de;q=0.8,en;q=0.7")
        assert "Antrag absenden" in response.content.decode()

    def test_field_errors_are_german(self, client, tenant):
        response = client.post(FORM, form_data(email="", own_data=None),
                               HTTP_ACCEPT_LANGUAGE="de")
        page = response.content.decode()
        assert response.status_code == 422
        assert "Bitte beheben Sie 2 Probleme:" in page
        assert "Geben Sie Ihre E-Mail-Adresse ein" in page
        assert "Bestätigen Sie, dass dieser Antrag Ihre eigenen" in page

    def test_confirmation_page_and_verification_email_in_german(self, client, tenant):
        response = client.post(FORM, form_data(), HTTP_ACCEPT_LANGUAGE="de", follow=True,
                               REMOTE_ADDR="198.51.100.7")
        assert "Vielen Dank — Ihr Antrag ist eingegangen" in response.content.decode()
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.subject.startswith("Bestätigen Sie Ihren Datenschutzantrag R-")
        assert "Bitte bestätigen Sie, dass dies Ihre E-Mail-Adresse ist" in message.body
        html = message.alternatives[0][0]
        assert "E-Mail-Adresse bestätigen" in html

    def test_verified_page_in_german(self, client, tenant):
        client.post(FORM, form_data(), HTTP_ACCEPT_LANGUAGE="de", REMOTE_ADDR="198.51.100.8")
        link = re.search(r"https?://\S+(/privacy/request/acme/verify/[-\w]+/\?lang=de)",
                         mail.outbox[0].body)
        assert link, mail.outbox[0].body
        # The emailed link opens the page in the form's language, whatever this browser says.
        response = client.get(link.group(1), HTTP_ACCEPT_LANGUAGE="en")
        assert "Ihre E-Mail-Adresse ist bestätigt" in response.content.decode()
        assert "(Auskunft — Art. 15)" in response.content.decode()
        # Confirmed: a second email gives the reference and the deadline, in German too.
        received = mail.outbox[1]
        assert re.fullmatch(r"Wir haben Ihren Datenschutzantrag R-\d{6} erhalten", received.subject)
        assert "Aktenzeichen: R-" in received.body
        assert "/privacy/acme/?lang=de" in received.body
        again = client.get(link.group(1), HTTP_ACCEPT_LANGUAGE="de")
        used = again.content.decode()
        assert "Dieser Link wurde bereits verwendet" in used
        # The explanation too, with a German date: "… wurde am 7. Dezember 2026 um 15:40 UTC".
        assert re.search(r"wurde am \d{1,2}\. [A-ZÄÖÜ][a-zäöü]+ \d{4} um \d\d:\d\d UTC "
                         r"bestätigt\. Sie müssen nichts weiter tun\.", used), used


class TestTenantDefault:
    def test_applies_when_the_browser_names_no_language(self, client, tenant):
        tenant.default_language = "de"
        tenant.save()
        assert "Antrag absenden" in client.get(FORM).content.decode()
        assert "Antrag absenden" in client.get(FORM, HTTP_ACCEPT_LANGUAGE="").content.decode()

    def test_applies_when_the_browser_names_only_unsupported_languages(self, client, tenant):
        tenant.default_language = "de"
        tenant.save()
        response = client.get(FORM, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,es;q=0.5")
        assert "Antrag absenden" in response.content.decode()
        center = client.get(CENTER, HTTP_ACCEPT_LANGUAGE="fr")
        assert "Mit Ihrer E-Mail-Adresse anmelden" in center.content.decode()

    def test_the_browser_wins_over_the_default(self, client, tenant):
        tenant.default_language = "de"
        tenant.save()
        response = client.get(FORM, HTTP_ACCEPT_LANGUAGE="en-US")
        assert "Send request" in response.content.decode()

    def test_each_tenant_its_own_default(self, client, tenant, other_tenant):
        tenant.default_language = "de"
        tenant.save()
        assert "Antrag absenden" in client.get(FORM).content.decode()
        other = client.get("/privacy/request/globex/").content.decode()
        assert "Send request" in other


class TestSwitcher:
    def test_switcher_posts_to_set_language_and_sticks(self, client, tenant):
        page = client.get(FORM, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        # A plain form (no JavaScript): one button per language, this page as `next`.
        assert 'action="/i18n/setlang/"' in page
        assert 'name="next" value="/privacy/request/acme/"' in page
        assert re.search(r'<button[^>]+name="language" value="de"[^>]*>Deutsch</button>', page)
        response = client.post("/i18n/setlang/", {"language": "de", "next": FORM},
                               HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 302
        assert response["Location"] == FORM
        # The choice outranks the browser's Accept-Language from now on.
        assert "Antrag absenden" in client.get(FORM, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Datenschutzcenter" in client.get(CENTER,
                                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
        client.post("/i18n/setlang/", {"language": "en", "next": FORM})
        assert "Send request" in client.get(FORM, HTTP_ACCEPT_LANGUAGE="de").content.decode()

    def test_switcher_needs_the_csrf_token(self, tenant):
        from django.test import Client

        strict = Client(enforce_csrf_checks=True)
        refused = strict.post("/i18n/setlang/", {"language": "de", "next": FORM})
        assert refused.status_code == 403
        page = strict.get(FORM).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token
        accepted = strict.post("/i18n/setlang/", {"language": "de", "next": FORM,
                                                  "csrfmiddlewaretoken": token.group(1)})
        assert accepted.status_code == 302
        assert "Antrag absenden" in strict.get(FORM).content.decode()

    def test_lang_parameter_for_one_page(self, client, tenant):
        assert "Antrag absenden" in client.get(f"{FORM}?lang=de",
                                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Send request" in client.get(FORM, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    def test_switcher_next_drops_the_lang_parameter(self, client, tenant):
        page = client.get(f"{FORM}?lang=de").content.decode()
        assert 'name="next" value="/privacy/request/acme/"' in page


class TestPrivacyCenter:
    def test_accept_language_de(self, client, tenant):
        response = client.get(CENTER, HTTP_ACCEPT_LANGUAGE="de")
        page = response.content.decode()
        assert "Ihre Daten bei Acme Corp" in page
        assert "Mit Ihrer E-Mail-Adresse anmelden" in page
        assert "Code senden" in page
        assert html_lang(response) == "de"

    def test_code_page_and_code_email_in_german(self, client, tenant):
        response = client.post(f"{CENTER}code/", {"email": "ada@example.com"},
                               HTTP_ACCEPT_LANGUAGE="de", follow=True)
        assert "Code eingeben" in response.content.decode()
        message = mail.outbox[-1]
        assert message.subject.startswith("Ihr Code für das Datenschutzcenter von Acme Corp: ")
        assert "Ihr Einmalcode für das Datenschutzcenter von Acme Corp lautet" in message.body
        assert message.extra_headers["Content-Language"] == "de"

    def test_a_wrong_code_is_explained_in_german(self, client, tenant):
        client.post(f"{CENTER}code/", {"email": "ada@example.com"}, HTTP_ACCEPT_LANGUAGE="de")
        sent = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
        assert sent
        wrong = "000000" if sent.group(1) != "000000" else "111111"
        response = client.post(f"{CENTER}verify/", {"code": wrong}, HTTP_ACCEPT_LANGUAGE="de")
        assert response.status_code == 422
        assert "Dieser Code ist nicht richtig. Noch 4 Versuche." in response.content.decode()


class TestStaffPagesStayEnglish:
    def test_login_page_ignores_accept_language(self, client, db):
        response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="de")
        page = response.content.decode()
        assert "Sign in" in page
        assert "Anmelden" not in page
        assert "Content-Language" not in response

    def test_staff_form_errors_stay_english_after_a_german_page(self, client, tenant):
        client.get(FORM, HTTP_ACCEPT_LANGUAGE="de")
        response = client.post("/login/", {"username": "", "password": ""},
                               HTTP_ACCEPT_LANGUAGE="de")
        page = response.content.decode()
        assert "Dieses Feld" not in page  # Django's own German messages must not leak here


class TestCatalog:
    def test_every_string_has_a_german_translation(self):
        po = LOCALE / "de" / "LC_MESSAGES" / "django.po"
        stats = subprocess.run(["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
                               capture_output=True, text=True, check=True)
        assert "untranslated" not in stats.stderr, stats.stderr
        assert "fuzzy" not in stats.stderr, stats.stderr

    def test_committed_mo_matches_the_po(self, tmp_path):
        po = LOCALE / "de" / "LC_MESSAGES" / "django.po"
        fresh = tmp_path / "django.mo"
        subprocess.run(["msgfmt", "-o", str(fresh), str(po)], check=True)
        with fresh.open("rb") as a, (po.with_suffix(".mo")).open("rb") as b:
            assert gettext.GNUTranslations(b)._catalog == gettext.GNUTranslations(a)._catalog, (
                "django.mo is stale: run msgfmt (docs/emails-and-languages.md)")
