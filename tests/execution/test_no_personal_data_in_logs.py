"""Running jobs writes no personal data of the subject, and no secret, into the logs."""

from __future__ import annotations

import logging

from django.core import mail

from privacyops.execution.runner import run_job_now
from privacyops.jobs.services import job_approve, job_create, job_reject
from tests import factories


def test_export_erase_and_rejection_log_no_personal_data(demo_store, staff, other_staff,
                                                         caplog):
    person = demo_store.erasable_person()
    name, email, phone = demo_store.query(
        "SELECT name, email, phone FROM people WHERE id = ?", person)[0]
    caplog.set_level(logging.DEBUG)
    for job_type in ("EXPORT", "ERASE"):
        job = job_create(tenant_id=demo_store.tenant.pk, job_type=job_type,
                         target_type="subject", target_id=str(person), reason="Art. 15",
                         actor=factories.actor(staff))
        if job.requires_approval:
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        run_job_now(job.pk)
    rejected = job_create(tenant_id=demo_store.tenant.pk, job_type="ERASE",
                          target_type="subject", target_id=str(person),
                          actor=factories.actor(staff))
    job_reject(job_id=rejected.pk, reason="Duplicate", actor=factories.actor(other_staff))
    assert len(mail.outbox) == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged, "the jobs logged nothing at all; the check below would be empty"
    for secret in (name, email, phone):
        assert secret not in logged
