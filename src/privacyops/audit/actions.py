"""Audit action names and the sentence each shows in the UI."""

ACTION_LABELS: dict[str, str] = {
    "job.created": "Job created",
    "job.approved": "Job approved",
    "job.rejected": "Job rejected",
    "job.retried": "Job retried",
    "job.started": "Job started",
    "job.completed": "Job completed",
    "job.failed": "Job failed",
    "job.attempt_failed": "Job attempt failed; it will be retried",
    "job.cancelled": "Job cancelled",
    "job.downloaded": "Export downloaded",
    "hold.placed": "Legal hold placed",
    "hold.released": "Legal hold released",
    "gdpr.export": "GDPR data export performed",
    "gdpr.erase": "GDPR erasure executed",
    "audit.exported": "Audit log exported",
    "audit.verified": "Audit chain verified",
    "auth.login": "Signed in",
    "user.time_zone_changed": "Time zone changed",
    "auth.login_failed": "Sign-in failed",
    "token.created": "API token created",
    "intake.submitted": "Privacy request submitted",
    "intake.verified": "Privacy request email verified",
    "intake.linked": "Privacy request linked to a data subject",
    "intake.fulfilled": "Privacy request fulfilled",
    "intake.closed": "Privacy request closed",
    "intake.rejected": "Privacy request rejected",
    "intake.extended": "Privacy request deadline extended",
    "privacy_center.verified": "Privacy center sign-in verified",
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)
