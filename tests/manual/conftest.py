"""Manual-system fixtures: a map file, a tenant with a manual system, and a job whose step on
it waits, announced the way the engine announces it (``step_waiting`` after commit)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from privacyops.execution.models import JobStep, StepStatus
from privacyops.execution.steps import step_waiting
from privacyops.jobs.models import Job, JobStatus
from privacyops.manual.models import ManualTask
from privacyops.tenancy.models import System, Tenant
from tests import factories
from tests.browser.conftest import mail_to_smtp, smtp_server  # noqa: F401 — the real SMTP server

LINK = re.compile(r"https?://[^\s\"<>]+/manual/[^\s\"<>/]+/")
CANARY_EMAIL = "zoe.canary@example.com"
CANARY_NAME = "Zoë Canary-Lefèvre"
OWNER = "archive.keeper@example.org"

MAP = """\
connector: manual
version: 1
name: paper-archive
owner: {owner}
instructions:
  export: Scan the person's folder in cabinet B.
  erase: Shred the person's folder in cabinet B.
deadline_days: {days}
"""


@pytest.fixture
def datamap_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATAMAP_DIR = str(tmp_path)
    settings.BASE_URL = "http://testserver"
    return tmp_path


def write_map(folder: Path, *, name: str = "paper-archive", days: int = 10,
              owner: str = OWNER, text: str | None = None) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text if text is not None else MAP.format(owner=owner, days=days))
    return path


@dataclass
class Setup:
    tenant: Tenant
    system: System


@pytest.fixture
def manual_setup(transactional_db: Any, datamap_dir: Path) -> Setup:
    cache.clear()  # the owner-page limiter lives in the cache, not flushed between tests
    write_map(datamap_dir)
    tenant = factories.tenant_create(slug="nord", name="Nord Clinic",
                                     privacy_contact_email="privacy@nord.example")
    system = System.objects.create(tenant=tenant, name="paper-archive",
                                   connector_type="manual", datamap_name="paper-archive")
    return Setup(tenant, system)


def waiting_step(setup: Setup, *, job_type: str = "ERASE", announce: bool = True) -> JobStep:
    """A Processing job (no lease) whose step on the manual system waits, as the engine leaves
    it, then ``step_waiting`` sent as the engine sends it (after its commit)."""
    job = Job.objects.create(
        tenant=setup.tenant, job_type=job_type, target_type="subject", target_id="42",
        identity={"email": CANARY_EMAIL, "name": CANARY_NAME},
        status=JobStatus.PROCESSING, requires_approval=False,
    )
    step = JobStep.objects.create(job=job, system=setup.system, system_name=setup.system.name,
                                  connector="manual", status=StepStatus.WAITING,
                                  started_at=timezone.now(), attempts=1)
    if announce:
        step_waiting.send(sender=JobStep, step=step)
    return step


def task_of(step: JobStep) -> ManualTask:
    return ManualTask.objects.filter(step=step).order_by("-pk").first()  # type: ignore[return-value]


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage) -> str:
    match = LINK.search(text_part(message))
    assert match, text_part(message)
    return match.group(0)


def path_of(link: str) -> str:
    return link.removeprefix("http://testserver")
