"""Exports a person opens elsewhere: the audit CSV runs no formula in a spreadsheet, and every
download's file name reaches the browser intact, whatever it contains."""

from __future__ import annotations

import csv
import email
import io
from email.policy import default

import pytest
from django.db import transaction
from django.test import Client

from privacyops.audit.services import audit_record
from privacyops.execution.models import Artifact
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.web.csv import neutralise
from tests import factories
from tests.demo_store import demo_store

__all__ = ["demo_store"]

pytestmark = pytest.mark.django_db(transaction=True)

FORMULAS = ["=HYPERLINK(\"https://evil.invalid\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def _staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


class TestAuditCsv:
    @pytest.mark.parametrize("url", ["/platform/privacy/audit/export.csv",
                                     "/api/v1/audit/export?format=csv"])
    def test_no_cell_starts_a_formula(self, staff, tenant, url):
        for formula in FORMULAS:
            with transaction.atomic():
                audit_record(actor=factories.actor(staff), action="hold.placed",
                             tenant_id=tenant.pk, target_type=formula, target_id=formula,
                             metadata={"reason": formula})
        response = _staff_client(staff).get(url)
        assert response.status_code == 200
        text = b"".join(response.streaming_content).decode()
        rows = list(csv.reader(io.StringIO(text)))
        cells = [cell for row in rows[1:] for cell in row]
        assert [c for c in cells if c.startswith(DANGEROUS_START)] == []
        # The values are kept, readable behind the quote.
        for formula in FORMULAS:
            assert "'" + formula in cells

    def test_numbers_and_plain_text_are_unchanged(self):
        assert neutralise(-5) == -5
        assert neutralise("erase subject 27") == "erase subject 27"
        assert neutralise("") == ""
        assert neutralise("a=b") == "a=b"


class TestDownloadFileNames:
    @pytest.mark.parametrize("name", ['export "quoted";name.zip', "export-ünïcode-27.zip",
                                      "export;\\ name.zip"])
    def test_the_browser_reads_the_file_name_as_stored(self, demo_store, staff, other_staff,
                                                       name):
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", target_id=str(demo_store.erasable_person()),
                         reason="Art. 15", actor=factories.actor(staff))
        if job.status == JobStatus.PENDING:
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        run_job_now(job.pk)
        job.refresh_from_db()
        Artifact.objects.filter(job=job).update(file_name=name)
        response = _staff_client(staff).get(job.result["download_url"])
        assert response.status_code == 200
        value = response["Content-Disposition"]
        assert value.isascii(), value
        header = email.message_from_string(f"Content-Disposition: {value}\n\n", policy=default)
        assert header.get_content_disposition() == "attachment"
        assert header.get_filename() == name
