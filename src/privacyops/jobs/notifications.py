"""Emails about jobs. Sent after commit; they never carry personal data of the target."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from privacyops.jobs.models import Job

logger = logging.getLogger(__name__)


def notify_rejected(job: Job) -> None:
    recipient = job.requested_by.email if job.requested_by else ""
    if not recipient:
        return
    send_mail(
        subject=f"Your {job.get_job_type_display().lower()} job #{job.pk} was rejected",
        message=(
            f"Your {job.job_type} job #{job.pk} ({job.target_type} {job.target_id}, "
            f"tenant {job.tenant.name}) was rejected by "
            f"{job.rejected_by.display_name if job.rejected_by else 'an approver'}.\n\n"
            f"Reason: {job.rejection_reason}\n\n"
            f"Details: {settings.BASE_URL}/platform/privacy/jobs/{job.pk}/\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[recipient],
    )
    logger.info("rejection email sent for job %s", job.pk)
