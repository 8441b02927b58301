"""Who a job is about: the person's display name and email from the tenant's data map, so pages
show people instead of row ids. Reading only; a datastore that does not answer shows the id."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import prefetch_related_objects

from privacyops.connectors import ConnectorError
from privacyops.errors import DomainError
from privacyops.execution.registry import datastore_for, system_for, tenant_key_for
from privacyops.jobs.models import Job
from privacyops.tenancy.models import Tenant

logger = logging.getLogger(__name__)

SUBJECT = "subject"


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str
    erased: bool
    # Where a person search found them (system names, the job system first); empty elsewhere.
    systems: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.erased:
            return "erased subject"
        return self.name or self.email or f"subject {self.id}"


def people_by_tenant(wanted: dict[Tenant, list[str]]) -> dict[tuple[int, str], Person]:
    """One query per tenant datastore for all the subject ids asked for."""
    found: dict[tuple[int, str], Person] = {}
    for tenant, ids in wanted.items():
        try:
            rows = datastore_for(tenant).describe_subjects(tenant_key_for(tenant), ids)
        except (DomainError, ConnectorError, Exception) as error:  # never break a page over names
            logger.debug("people of tenant %s not shown: %s", tenant.pk, type(error).__name__)
            continue
        for key, row in rows.items():
            found[(tenant.pk, key)] = Person(
                id=key, name=str(row.get("name") or ""), email=str(row.get("email") or ""),
                erased=bool(row.get("erased")),
            )
    return found


def people_for_jobs(jobs: Iterable[Job]) -> dict[int, Person]:
    """The person each subject job targets, by job id (jobs of other target types are absent,
    and so are those a RECTIFY or RESTRICT ran on another system than the one asked here:
    the same id may be someone else there)."""
    jobs = [job for job in jobs if job.target_type == SUBJECT]
    tenants: dict[int, Tenant] = {}
    for job in jobs:
        tenants.setdefault(job.tenant_id, job.tenant)
    # Every tenant's systems in one query, however many tenants the page shows.
    prefetch_related_objects(list(tenants.values()), "systems")
    jobs = [job for job in jobs if _on_the_job_system(job, tenants[job.tenant_id])]
    wanted: dict[Tenant, list[str]] = defaultdict(list)
    for job in jobs:
        wanted[tenants[job.tenant_id]].append(job.target_id)
    people = people_by_tenant(wanted)
    return {job.pk: people[(job.tenant_id, job.target_id)]
            for job in jobs if (job.tenant_id, job.target_id) in people}


def _on_the_job_system(job: Job, tenant: Tenant) -> bool:
    named = job.params.get("system") if isinstance(job.params, dict) else None
    if not named:
        return True
    system = system_for(tenant)
    return system is not None and system.name == named


def jobs_with_people(jobs: Iterable[Job]) -> list[Job]:
    """The jobs, each with `person` set (None for other target types or no answer), for pages
    that show who a job is about."""
    jobs = list(jobs)
    people = people_for_jobs(jobs)
    for job in jobs:
        job.person = people.get(job.pk)  # type: ignore[attr-defined]
    return jobs


def person_for_job(job: Job) -> Person | None:
    return people_for_jobs([job]).get(job.pk)


def step_candidates(step: Any) -> list[Person]:
    """The subjects an identity matched in one step's system, in the step's order, each with
    the display fields the people list shows (an id alone when the system does not answer)."""
    from privacyops.execution.registry import connector_of_system

    rows: dict[str, dict[str, Any]] = {}
    if step.system is not None:
        try:
            connector = connector_of_system(step.system)
            describe = getattr(connector, "describe_subjects", None)
            if describe is not None:
                rows = describe(step.system.datastore_key or None, [str(k) for k in step.keys])
        except Exception as error:  # never break a page over names
            logger.debug("candidates of step %s not shown: %s", step.pk, type(error).__name__)
    return [Person(id=str(key), name=str(rows.get(str(key), {}).get("name") or ""),
                   email=str(rows.get(str(key), {}).get("email") or ""),
                   erased=bool(rows.get(str(key), {}).get("erased")))
            for key in step.keys]


def people_matching(tenant: Tenant, typed: str, *, limit: int = 10) -> list[Person]:
    """People of the tenant whose display fields or identity contain `typed`, searched in
    every system that lists its subjects (the SQL systems), the job system first.

    The same email in several systems is one person, with each system named. `id` is the
    person's subject id in the job system, and empty for someone only other systems hold
    (a job reaches them by email). A system that does not answer is left out, with a warning
    in the log."""
    from privacyops.execution.registry import connector_of_system, sql_systems

    systems = sql_systems(tenant)  # the first is the job system
    job_system = systems[0] if systems else None
    found: dict[str, dict[str, Any]] = {}
    for system in systems:
        try:
            rows = connector_of_system(system).list_subjects(  # type: ignore[attr-defined]
                system.datastore_key or None, search=typed, limit=limit)
        except Exception as error:  # suggestions are a convenience: no answer, no suggestions
            logger.warning("people search of system %s (tenant %s) failed: %s", system.pk,
                           tenant.pk, type(error).__name__)
            continue
        primary = job_system is not None and system.pk == job_system.pk
        for row in rows:
            email = str(row.get("email") or "")
            key = email.casefold() if email else f"{system.pk}:{row.get('id')}"
            person = found.setdefault(key, {"id": "", "name": "", "email": email,
                                            "erased": True, "systems": []})
            if primary and not person["id"]:
                person["id"] = str(row.get("id"))
            person["name"] = person["name"] or str(row.get("name") or "")
            person["erased"] = person["erased"] and bool(row.get("erased"))
            person["systems"].append(system.name)
    return [Person(id=p["id"], name=p["name"], email=p["email"], erased=p["erased"],
                   systems=tuple(p["systems"]))
            for p in list(found.values())[:limit]]
