"""Every email to a data subject, delivered to a real SMTP server and read as a mail client
would: subject, sender, reply-to, the plain-text and the HTML part, the link, the language."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import parseaddr

import pytest

from privacyops.requests_mail import send_request_email
from tests.requests_mail.conftest import BASE_URL, FakeJob, MailRequest

VERIFY_URL = f"{BASE_URL}/privacy/request/acme/verify/tok-abc123/"
CENTER_URL = f"{BASE_URL}/privacy/acme/"


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None, "a text part"
    assert html is not None, "an HTML part"
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    # SMTP carries CRLF line ends; compare lines as written.
    return (str(plain.get_content()).replace("\r\n", "\n"),
            str(html.get_content()).replace("\r\n", "\n"))


def deliver(smtp, kind: str, request: MailRequest, **extra) -> tuple[EmailMessage, str, str]:
    send_request_email(kind, request, **extra)
    message = smtp.wait_for()
    assert message["To"] == request.email
    text, html = parts(message)
    return message, text, html


def assert_frame(message: EmailMessage, text: str, html: str) -> None:
    """What every email carries: who it is from, where replies go, who to ask."""
    display, address = parseaddr(str(message["From"]))
    assert display == "Acme Corp"
    assert address == "privacy@privacyops.example"
    assert message["Reply-To"] == "requests@acme.example"
    for part in (text, html):
        assert "Acme Corp" in part
        assert "dpo@acme.example" in part
        assert "Ada Lovelace" in part


class TestEachKindInEnglish:
    def test_received_gives_reference_deadline_and_center_link(self, smtp, contact_tenant):
        message, text, html = deliver(smtp, "received", MailRequest(contact_tenant))
        assert message["Subject"] == "We received your privacy request R-000123"
        assert_frame(message, text, html)
        assert "Reference number: R-000123" in text
        assert "We answer by: 06 January 2027" in text
        assert f"{CENTER_URL}?lang=en" in text
        assert f'href="{CENTER_URL}?lang=en"' in html
        assert "06 January 2027" in html
        assert message["Content-Language"] == "en"

    def test_verify_carries_the_confirmation_link(self, smtp, contact_tenant):
        message, text, html = deliver(smtp, "verify", MailRequest(contact_tenant),
                                      verify_url=VERIFY_URL)
        assert message["Subject"] == "Confirm your privacy request R-000123"
        assert_frame(message, text, html)
        assert VERIFY_URL in text
        assert f'href="{VERIFY_URL}"' in html
        assert "expires in 48 hours" in text
        assert "If you did not send this request, ignore this email." in text

    def test_extended_gives_reason_and_new_deadline(self, smtp, contact_tenant):
        from datetime import UTC, datetime

        request = MailRequest(contact_tenant, deadline_at=datetime(2027, 3, 6, tzinfo=UTC),
                              extension_reason="Your data is spread over 12 systems.")
        message, text, html = deliver(smtp, "extended", request,
                                      original_deadline=datetime(2027, 1, 6, tzinfo=UTC))
        assert message["Subject"] == "Your privacy request R-000123: deadline extended"
        assert_frame(message, text, html)
        assert "New deadline: 06 March 2027" in text
        assert "Original deadline: 06 January 2027" in text
        assert "Reason: Your data is spread over 12 systems." in text
        assert "Your data is spread over 12 systems." in html
        assert "Article 12(3)" in text
        assert "Article 12(3)" in html

    def test_completed_access_links_the_center_and_the_expiry(self, smtp, contact_tenant):
        export = FakeJob("EXPORT", "Completed", {
            "download_url": "/downloads/signed-token/", "expires_at": "2027-01-13T09:30:00+00:00",
            "file_name": "export-subject-42.zip"})
        request = MailRequest(contact_tenant, request_type="access", jobs=[export])
        message, text, html = deliver(smtp, "completed", request)
        assert message["Subject"] == "Your privacy request R-000123 is complete"
        assert_frame(message, text, html)
        assert f"{CENTER_URL}?lang=en" in text
        assert f'href="{CENTER_URL}?lang=en"' in html
        assert "available until 13 January 2027" in text
        assert "one-time code" in text
        # The package itself is reached only through the privacy center, never by mail.
        assert "signed-token" not in text
        assert "signed-token" not in html

    def test_completed_portability_without_a_job_still_links_the_center(self, smtp,
                                                                           contact_tenant):
        request = MailRequest(contact_tenant, request_type="portability")
        _message, text, _html = deliver(smtp, "completed", request,
                                        expires_at="2027-02-01T00:00:00+00:00")
        assert f"{CENTER_URL}?lang=en" in text
        assert "available until 01 February 2027" in text

    def test_completed_erasure_says_what_was_erased_in_which_system(self, smtp, contact_tenant):
        one_system = FakeJob("ERASE", "Completed", {
            "datastore": "shop", "rows_changed": 5,
            "tables": {"customers": {"rows": 1, "columns": ["email", "name"]},
                       "orders": {"rows": 4, "columns": ["address"]}},
            "categories": {"customers": ["contact", "identity"], "orders": ["address"]}})
        several = FakeJob("ERASE", "Completed", {"systems": [
            {"system": "crm", "rows_changed": 2, "tables": {"leads": {"rows": 2}},
             "categories": {"leads": ["contact"]}},
            {"system": "newsletter", "rows_changed": 1, "tables": {"subscribers": {"rows": 1}},
             "categories": {}},
        ]})
        failed = FakeJob("ERASE", "Failed", {"datastore": "billing", "rows_changed": 9})
        request = MailRequest(contact_tenant, request_type="erasure",
                              jobs=[one_system, several, failed])
        message, text, html = deliver(smtp, "completed", request)
        assert_frame(message, text, html)
        assert "We erased your personal data as you asked." in text
        assert "- In shop: address, contact, identity (5 records)." in text
        assert "- In crm: contact (2 records)." in text
        assert "- In newsletter: subscribers (1 records)." in text
        assert "<li>In shop: address, contact, identity (5 records).</li>" in html
        assert "billing" not in text  # a failed job erased nothing

    @pytest.mark.parametrize(("request_type", "heading"), [
        ("correction", "What changed:"), ("restriction", "What is restricted:")])
    def test_completed_correction_and_restriction_list_field_names(
            self, smtp, contact_tenant, request_type, heading):
        request = MailRequest(contact_tenant, request_type=request_type)
        _message, text, html = deliver(smtp, "completed", request,
                                       fields=["postal address", "phone number"])
        assert f"{heading}\n\n- postal address\n- phone number\n" in text
        assert "<li>postal address</li><li>phone number</li>" in html

    def test_rejected_gives_reason_and_how_to_complain(self, smtp, contact_tenant):
        request = MailRequest(contact_tenant, request_type="erasure",
                              rejection_reason="Invoices must be kept for 10 years <by law>.")
        message, text, html = deliver(smtp, "rejected", request)
        assert message["Subject"] == "Your privacy request R-000123 was rejected"
        assert_frame(message, text, html)
        assert "Reason: Invoices must be kept for 10 years <by law>." in text
        assert "Invoices must be kept for 10 years &lt;by law&gt;." in html  # escaped in HTML
        assert "<by law>" not in html
        for part in (text, html):
            assert "lodge a complaint with a supervisory authority" in part
            assert "Article 12(4)" in part

    def test_reply_to_falls_back_to_the_privacy_contact(self, smtp, tenant):
        tenant.privacy_contact_email = "dpo@acme.example"
        tenant.save()
        message, _text, _html = deliver(smtp, "received", MailRequest(tenant))
        assert message["Reply-To"] == "dpo@acme.example"

    def test_no_personal_data_in_the_log(self, smtp, contact_tenant, caplog):
        request = MailRequest(contact_tenant, rejection_reason="You owe us money.")
        with caplog.at_level(logging.DEBUG):
            send_request_email("rejected", request)
        smtp.wait_for()
        # Our records (the test SMTP server's own "mail.log" lines are not the product's).
        logged = " ".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
        assert "rejected" in logged
        for secret in ("ada@example.com", "Ada Lovelace", "R-000123", "You owe us money"):
            assert secret not in logged

    def test_unknown_kind_and_verify_without_link_are_refused(self, contact_tenant):
        with pytest.raises(ValueError, match="Unknown email kind 'done'"):
            send_request_email("done", MailRequest(contact_tenant))
        with pytest.raises(ValueError, match="verify_url"):
            send_request_email("verify", MailRequest(contact_tenant))


class TestGerman:
    def test_request_language_de(self, smtp, contact_tenant):
        request = MailRequest(contact_tenant, language="de", request_type="erasure",
                              rejection_reason="Die Rechnungen müssen wir aufbewahren.")
        message, text, html = deliver(smtp, "rejected", request)
        assert message["Subject"] == "Ihr Datenschutzantrag R-000123 wurde abgelehnt"
        assert message["Content-Language"] == "de"
        assert text.startswith("Guten Tag Ada Lovelace,")
        assert "Löschung Ihrer Daten nach Art. 17 DSGVO" in text
        assert "Grund: Die Rechnungen müssen wir aufbewahren." in text
        assert "Beschwerde bei einer Aufsichtsbehörde" in text
        assert "Beschwerde bei einer Aufsichtsbehörde" in html
        assert '<html lang="de">' in html
        assert "— Das Datenschutzteam von Acme Corp" in text

    def test_german_dates_and_links(self, smtp, contact_tenant):
        message, text, html = deliver(smtp, "verify", MailRequest(contact_tenant, language="de"),
                                      verify_url=VERIFY_URL)
        assert message["Subject"] == "Bestätigen Sie Ihren Datenschutzantrag R-000123"
        assert "Wir antworten bis zum 6. Januar 2027." in text
        assert VERIFY_URL in text
        assert f'href="{VERIFY_URL}"' in html
        assert "E-Mail-Adresse bestätigen" in html

    def test_tenant_default_applies_when_the_request_has_none(self, smtp, contact_tenant):
        contact_tenant.default_language = "de"
        contact_tenant.save()
        message, text, _html = deliver(smtp, "received", MailRequest(contact_tenant))
        assert message["Subject"] == "Wir haben Ihren Datenschutzantrag R-000123 erhalten"
        assert f"{CENTER_URL}?lang=de" in text

    def test_request_language_wins_over_the_tenant_default(self, smtp, contact_tenant):
        contact_tenant.default_language = "de"
        contact_tenant.save()
        message, _text, _html = deliver(smtp, "received",
                                        MailRequest(contact_tenant, language="en"))
        assert message["Subject"] == "We received your privacy request R-000123"

    def test_unsupported_language_falls_back_to_the_tenant_default(self, smtp, contact_tenant):
        contact_tenant.default_language = "de"
        contact_tenant.save()
        message, _text, _html = deliver(smtp, "received",
                                        MailRequest(contact_tenant, language="fr"))
        assert message["Subject"] == "Wir haben Ihren Datenschutzantrag R-000123 erhalten"

    def test_regional_variant_counts(self, smtp, contact_tenant):
        message, _text, _html = deliver(smtp, "completed",
                                        MailRequest(contact_tenant, language="de-AT"))
        assert message["Subject"] == "Ihr Datenschutzantrag R-000123 ist erledigt"
