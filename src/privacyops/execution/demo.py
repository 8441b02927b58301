"""`privacyops demo`: the demo datastore, its data map, tenants, accounts, jobs and a hold."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from privacyops.config import env
from privacyops.demo.generate import (
    DemoPersonHint,
    datastore_is_populated,
    generate_demo_datastore,
)
from privacyops.execution.runner import run_job_now
from privacyops.holds.services import hold_place
from privacyops.jobs.services import job_approve, job_claim, job_create, job_reject
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Membership, Role, System, Tenant, User
from privacyops.tenancy.services import member_add, staff_create, system_add, tenant_create

PACKAGED_DATAMAP = Path(__file__).resolve().parent.parent / "demo" / "datamap.yaml"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: str
    tenant: str


def demo_password() -> str:
    chosen = env("PRIVACYOPS_DEMO_PASSWORD")
    if chosen:
        return chosen
    path = settings.DATA_DIR / "demo-password.txt"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


def write_demo_datamap(datastore_path: Path) -> Path:
    datamap: dict[str, Any] = yaml.safe_load(PACKAGED_DATAMAP.read_text())
    datamap["connection"] = {"url": f"sqlite:///{datastore_path}"}
    target = Path(settings.DATAMAP_DIR) / "demo.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "# Written by `privacyops demo` from the packaged demo data map.\n"
        + yaml.safe_dump(datamap, sort_keys=False)
    )
    return target


DEMO = Actor.system("demo")


def _staff_account(email: str, password: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = staff_create(email=email, password=password, actor=DEMO).user
    return user


def _tenant_with_system(*, slug: str, name: str, key: str) -> Tenant:
    """The demo is a user of the same services as an operator: tenant, then its systems."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        tenant = tenant_create(slug=slug, name=name, actor=DEMO,
                               privacy_contact_email=f"privacy@{slug}.example.com")
    if not tenant.systems.exists():
        system_add(tenant_id=tenant.pk, name=WORKSPACE_APP, datamap_name="demo",
                   datastore_key=key, actor=DEMO)
    return tenant


WORKSPACE_APP = "workspace-app"
HELPDESK = "helpdesk"
PAPER_FILES = "paper-files"


def write_paper_files_map() -> Path:
    """The manual system's map: who its owner is and what they are asked to do."""
    target = Path(settings.DATAMAP_DIR) / f"{PAPER_FILES}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump({
        "connector": "manual",
        "name": PAPER_FILES,
        "owner": "records@{tenant}.example.com",
        "instructions": "Find the person's paper personnel file in the records room; for an "
                        "export, scan it; for an erasure, shred it. Then settle the step with "
                        "the number of documents.",
    }, sort_keys=False))
    return target


def ensure_demo_systems(datastore: Path) -> None:
    """Every demo tenant's three systems: the workspace app (renamed from `demo`), the
    helpdesk (a second SQLite database of the same people) and the paper files (manual).
    Running it again changes nothing."""
    from django.db import transaction

    from privacyops.audit.services import audit_record
    from privacyops.demo.helpdesk import (
        generate_helpdesk,
        people_of_demo,
        write_helpdesk_datamap,
    )
    from privacyops.tenancy.models import ConnectorType

    helpdesk = settings.DATA_DIR / "demo-helpdesk.sqlite3"
    generate_helpdesk(helpdesk, people_of_demo(datastore))
    write_helpdesk_datamap(helpdesk, Path(settings.DATAMAP_DIR))
    write_paper_files_map()
    for system in System.objects.filter(datamap_name="demo", name="demo").select_related(
            "tenant"):
        with transaction.atomic():
            System.objects.filter(pk=system.pk).update(name=WORKSPACE_APP)
            audit_record(actor=DEMO, action="system.renamed", tenant_id=system.tenant_id,
                         target_type="system", target_id=system.pk,
                         metadata={"name": WORKSPACE_APP, "was": "demo"})
    for tenant in Tenant.objects.filter(systems__datamap_name="demo").distinct():
        main = tenant.systems.filter(datamap_name="demo").order_by("pk").first()
        key = main.datastore_key if main else ""
        if not tenant.systems.filter(name=HELPDESK).exists():
            system_add(tenant_id=tenant.pk, name=HELPDESK, datamap_name=HELPDESK,
                       datastore_key=key, actor=DEMO)
        if not tenant.systems.filter(name=PAPER_FILES).exists():
            with transaction.atomic():
                manual = System.objects.create(
                    tenant=tenant, name=PAPER_FILES, connector_type=ConnectorType.MANUAL,
                    datamap_name=PAPER_FILES, datastore_key=key)
                audit_record(actor=DEMO, action="system.added", tenant_id=tenant.pk,
                             target_type="system", target_id=manual.pk,
                             metadata={"name": PAPER_FILES, "connector_type": "manual",
                                       "datamap": PAPER_FILES,
                                       "owner": f"records@{tenant.slug}.example.com"})


def demo_accounts() -> list[DemoAccount]:
    accounts = [DemoAccount(u.email, "platform staff", "all tenants")
                for u in User.objects.filter(is_staff=True).order_by("email")]
    accounts += [DemoAccount(m.user.email, m.role, m.tenant.slug)
                 for m in Membership.objects.select_related("user", "tenant").order_by("tenant", "role")]
    return accounts


def _people(datastore: Path, workspace_id: int) -> list[DemoPersonHint]:
    """The first 200 people of a workspace with their role and whether they hold assets."""
    active = (
        "EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id AND "
        "h.returned_at IS NULL) OR EXISTS (SELECT 1 FROM software_assignments s WHERE "
        "s.person_id = p.id AND s.revoked_at IS NULL)"
    )
    with closing(sqlite3.connect(datastore)) as conn:
        rows = conn.execute(
            f"SELECT p.id, p.email, p.role, {active} FROM people p "  # noqa: S608 - constant SQL
            "WHERE p.workspace_id = ? ORDER BY p.id LIMIT 200",
            (workspace_id,),
        ).fetchall()
    return [DemoPersonHint(r[0], r[1], r[2], bool(r[3])) for r in rows]


def _pick(people: list[DemoPersonHint], role: str | None, erasable: bool | None = None,
          skip: set[int] | None = None) -> DemoPersonHint:
    for person in people:
        if skip and person.id in skip:
            continue
        if role is not None and person.role != role:
            continue
        if erasable is not None and person.has_active_assignments == erasable:
            continue
        return person
    raise LookupError(f"the demo datastore has no person with role {role}")


def build_demo(*, people: int, progress: bool) -> tuple[bool, Path]:
    """Build everything; returns (created, datastore path). Running twice changes nothing."""
    datastore = settings.DATA_DIR / "demo-datastore.sqlite3"
    if datastore_is_populated(datastore) and System.objects.filter(datamap_name="demo").exists():
        write_demo_datamap(datastore)
        ensure_demo_systems(datastore)
        return False, datastore
    if datastore_is_populated(datastore):
        datastore.unlink()
    summary = generate_demo_datastore(datastore, people=people, progress=progress)
    write_demo_datamap(datastore)
    password = demo_password()
    staff = _staff_account("staff@example.com", password)
    approver = _staff_account("approver@example.com", password)
    tenants = [_tenant_with_system(slug=ws.slug, name=ws.name, key=str(ws.id))
               for ws in summary.workspaces]
    ensure_demo_systems(datastore)
    first = tenants[0]
    sample = _people(datastore, summary.workspaces[0].id)
    chosen: set[int] = set()
    for role in (Role.SUPER_ADMIN, Role.ADMIN, Role.IT_ADMIN, Role.MEMBER):
        person = _pick(sample, role, skip=chosen)
        chosen.add(person.id)
        if not Membership.objects.filter(tenant=first, user__email=person.email).exists():
            member_add(tenant_id=first.pk, email=person.email, role=role, password=password,
                       actor=DEMO)
    if not first.jobs.exists():
        _seed_jobs(first, staff, approver, sample, chosen)
    return True, datastore


def _seed_jobs(tenant: Tenant, staff: User, approver: User, sample: list[DemoPersonHint],
               used: set[int]) -> None:
    as_staff, as_approver = Actor.for_user(staff), Actor.for_user(approver)
    members = [p for p in sample if p.role == "member" and p.id not in used]
    erasable = [p for p in members if not p.has_active_assignments]
    busy = [p for p in members if p.has_active_assignments]

    def create(job_type: str, person: DemoPersonHint, reason: str) -> int:
        return job_create(tenant_id=tenant.pk, job_type=job_type, target_type="subject",
                          target_id=str(person.id), reason=reason, actor=as_staff).pk

    run_job_now(create("EXPORT", erasable[0], "Art. 15 access request by email"))
    erase_id = create("ERASE", erasable[1], "Art. 17 request received by post")
    job_approve(job_id=erase_id, actor=as_approver)
    run_job_now(erase_id)
    create("ERASE", erasable[2], "Former employee asked to be forgotten")
    rejected = create("ERASE", erasable[3], "Duplicate of an earlier request")
    job_reject(job_id=rejected, reason="Identity could not be verified.", actor=as_approver)
    hold_place(tenant_id=tenant.pk, scope_type="subject", scope_id=str(erasable[4].id),
               reason="Employment tribunal case 2026-114", actor=as_staff)
    held = create("ERASE", erasable[4], "Erasure requested during litigation")
    job_approve(job_id=held, actor=as_approver)
    run_job_now(held)
    blocked = create("ERASE", busy[0], "Leaver asked for erasure")
    job_approve(job_id=blocked, actor=as_approver)
    run_job_now(blocked)
    create("EXPORT", erasable[5], "Portability request (Art. 20)")
    running = create("EXPORT", erasable[6], "Export interrupted by a worker restart")
    job_claim(job_id=running, worker_id="demo-seed")
