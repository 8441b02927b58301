"""Erasure receipts: signed at completion, verifiable by anyone, refused when changed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from privacyops.audit.models import AuditEvent
from privacyops.audit.signing import public_key_from_text, sign
from privacyops.execution.receipts import receipt_for_job, receipt_payload, receipt_problems
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from tests import factories


def _declare_health() -> None:
    path = Path(settings.DATAMAP_DIR) / "demo.yaml"
    datamap = yaml.safe_load(path.read_text())
    datamap["entities"]["asset_requests"]["fields"]["justification"] = {
        "category": "health", "erase": {"set": ""}}
    path.write_text(yaml.safe_dump(datamap, sort_keys=False))


def _run(tenant, requester, approver, job_type: str, target_id: int) -> Job:
    job = job_create(tenant_id=tenant.pk, job_type=job_type, target_type="subject",
                     target_id=str(target_id), reason="test", actor=factories.actor(requester))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message
    return job


def _person_with_requests(demo_store) -> int:
    return next(p for (p,) in demo_store.query(
        "SELECT a.person_id FROM asset_requests a JOIN people p ON p.id = a.person_id "
        "WHERE a.workspace_id = ? AND p.role = 'member' AND a.justification <> '' "
        "AND NOT EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id "
        "AND h.returned_at IS NULL) AND NOT EXISTS (SELECT 1 FROM software_assignments s "
        "WHERE s.person_id = p.id AND s.revoked_at IS NULL) ORDER BY a.person_id",
        int(factories.tenant_key(demo_store.tenant))))


def _verify(path: Path, *extra: str) -> str:
    out = io.StringIO()
    call_command("receipt", "verify", str(path), *extra, stdout=out)
    return out.getvalue()


def _published_key() -> str:
    response = Client().get("/.well-known/privacyops/receipt-key")
    assert response.status_code == 200
    return response.json()["public_key"]


class TestReceipt:
    def test_erase_receipt_states_rows_and_categories_and_verifies(
            self, demo_store, staff, other_staff, tmp_path):
        _declare_health()
        person = _person_with_requests(demo_store)
        requests = demo_store.query("SELECT COUNT(*) FROM asset_requests WHERE person_id = ?",
                                    person)[0][0]
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", person)

        receipt = receipt_for_job(job)
        assert receipt["tenant"]["slug"] == demo_store.tenant.slug
        assert receipt["job"] == {"id": job.pk, "type": "ERASE", "target_type": "subject",
                                  "target_id": str(person),
                                  "completed_at": job.finished_at.isoformat()}
        [system] = receipt["systems"]
        assert system["system"] == "demo"
        tables = {t["table"]: t for t in system["tables"]}
        assert tables["people"]["rows"] == 1
        assert tables["asset_requests"]["rows"] == requests
        assert "health" in tables["asset_requests"]["categories"]
        assert tables["asset_requests"]["special_categories"] == ["health"]
        assert receipt["special_categories"] == ["health"]
        completed = AuditEvent.objects.get(action="job.completed", target_id=str(job.pk))
        assert receipt["audit"]["event"] == {"seq": completed.seq, "action": "job.completed",
                                             "hash": completed.hash}
        assert receipt["audit"]["head"]["seq"] >= completed.seq
        email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
        assert email not in json.dumps(receipt)

        # Anyone: the published key alone verifies it.
        assert receipt_problems(receipt, public=public_key_from_text(_published_key())) == []
        path = tmp_path / "receipt.json"
        path.write_text(json.dumps(receipt))
        assert "audit event #" in _verify(path)
        assert "signature valid" in _verify(path, "--key", _published_key())

    def test_purge_receipt_counts_deleted_rows(self, demo_store, staff, other_staff):
        person = demo_store.erasable_person()
        activity = demo_store.query(
            "SELECT COUNT(*) FROM activity_log WHERE actor_id = ? OR subject_id = ?",
            person, person)[0][0]
        job = _run(demo_store.tenant, staff, other_staff, "PURGE", person)
        [system] = receipt_for_job(job)["systems"]
        assert system["action"] == "rows deleted"
        tables = {t["table"]: t["rows"] for t in system["tables"]}
        assert tables["people"] == 1
        assert tables["activity_log"] == activity
        assert system["rows"] == job.result["rows_deleted"]

    def test_a_changed_receipt_is_refused(self, demo_store, staff, other_staff, tmp_path):
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", demo_store.erasable_person())
        receipt = receipt_for_job(job)
        tampered = json.loads(json.dumps(receipt))
        tampered["systems"][0]["tables"][0]["rows"] += 1
        path = tmp_path / "tampered.json"
        path.write_text(json.dumps(tampered))
        with pytest.raises(CommandError, match="REFUSED: The signature does not match"):
            _verify(path)
        with pytest.raises(CommandError, match="REFUSED"):
            _verify(path, "--key", _published_key())

    def test_a_signed_receipt_naming_another_audit_event_fails_against_the_chain(
            self, demo_store, staff, other_staff, tmp_path):
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", demo_store.erasable_person())
        forged = json.loads(json.dumps(receipt_for_job(job)))
        forged["audit"]["event"]["hash"] = "0" * 64
        value, signer = sign(receipt_payload(forged))
        forged["signature"] = {"algorithm": "Ed25519", "key_id": signer, "value": value}
        path = tmp_path / "forged.json"
        path.write_text(json.dumps(forged))
        assert "signature valid" in _verify(path, "--key", _published_key())
        with pytest.raises(CommandError, match="another hash in the chain"):
            _verify(path)

    def test_another_key_is_refused(self, demo_store, staff, other_staff, tmp_path):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from privacyops.audit.signing import public_key_text

        job = _run(demo_store.tenant, staff, other_staff, "ERASE", demo_store.erasable_person())
        path = tmp_path / "receipt.json"
        path.write_text(json.dumps(receipt_for_job(job)))
        stranger = public_key_text(Ed25519PrivateKey.generate().public_key())
        with pytest.raises(CommandError, match="not with this key"):
            _verify(path, "--key", stranger)

    def test_key_command_prints_the_published_key(self, db):
        out = io.StringIO()
        call_command("receipt", "key", stdout=out)
        assert _published_key() in out.getvalue()


class TestReceiptDownload:
    def test_api_gives_it_to_who_may_see_the_job_and_404_to_another_tenant(
            self, demo_store, staff, other_staff):
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", demo_store.erasable_person())
        client = Client()
        client.force_login(staff)
        response = client.get(f"/api/v1/jobs/{job.pk}/receipt")
        assert response.status_code == 200
        assert response.json() == receipt_for_job(job)

        admin = factories.user_create(tenant=demo_store.tenant, role="admin")
        client.force_login(admin)
        assert client.get(f"/api/v1/jobs/{job.pk}/receipt").status_code == 200

        outsider = factories.user_create(tenant=demo_store.other_tenant, role="admin")
        client.force_login(outsider)
        assert client.get(f"/api/v1/jobs/{job.pk}/receipt").status_code == 404
        assert client.get(f"/platform/privacy/jobs/{job.pk}/receipt/").status_code == 404

    def test_export_job_has_no_receipt(self, demo_store, staff, other_staff):
        job = _run(demo_store.tenant, staff, other_staff, "EXPORT", demo_store.erasable_person())
        client = Client()
        client.force_login(staff)
        assert client.get(f"/api/v1/jobs/{job.pk}/receipt").status_code == 404
        assert "erasure receipt" not in client.get(
            f"/platform/privacy/jobs/{job.pk}/").content.decode()

    def test_job_page_offers_the_download(self, demo_store, staff, other_staff):
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", demo_store.erasable_person())
        client = Client()
        client.force_login(staff)
        page = client.get(f"/platform/privacy/jobs/{job.pk}/").content.decode()
        assert f"/platform/privacy/jobs/{job.pk}/receipt/" in page
        response = client.get(f"/platform/privacy/jobs/{job.pk}/receipt/")
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        assert json.loads(response.content) == receipt_for_job(job)
