"""Schema of the demo datastore: the database of a multi-tenant IT-asset workspace application.

This is the *organisation's own* database that the platform exports from, erases and purges
in the demo; the platform itself never depends on it, it reaches it through the demo data map.
Every table except ``workspaces`` carries the tenant column ``workspace_id``.

Timestamps are ISO-8601 UTC text with second precision (``2026-06-07T14:12:30Z``): fixed width,
so they sort and compare as text, and unambiguous for anyone who reflects the schema instead of
importing these ``Table`` objects. Use :func:`iso_utc` to write one.

Every foreign-key column is the leading column of an index, so traversals from a person or a
workspace (``WHERE fk IN (...)``) never scan a table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    column,
)

EMPLOYMENT_STATUSES: tuple[str, ...] = ("active", "onboarding", "inactive", "offboarded")
ROLES: tuple[str, ...] = ("super-admin", "admin", "it-admin", "member")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def iso_utc(moment: datetime) -> str:
    """Format an aware datetime the way every timestamp column of the demo datastore stores it."""
    if moment.tzinfo is None:
        raise ValueError("the demo datastore stores UTC timestamps; pass a timezone-aware datetime")
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _workspace_fk() -> Column[int]:
    return Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False)


workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
)

sso_issuers = Table(
    "sso_issuers",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("name", String(255), nullable=False),
    Column("entity_id", String(255), nullable=False),
    Index("ix_sso_issuers_workspace_id_entity_id", "workspace_id", "entity_id", unique=True),
)

people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("name", String(255), nullable=False),
    Column("email", String(255), nullable=False),
    Column("employee_id", String(255), nullable=False),
    Column("job_title", String(255), nullable=False),
    Column("department", String(255), nullable=False),
    Column("manager_id", Integer, ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
    Column("phone", String(255), nullable=False),
    Column("employment_status", String(255), nullable=False),
    Column("last_login_at", String(255), nullable=True),
    Column("role", String(255), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("sso_issuer_id", Integer, ForeignKey("sso_issuers.id"), nullable=True),
    Column("sso_subject", String(255), nullable=True),
    Column("created_at", String(255), nullable=False),
    Column("erased_at", String(255), nullable=True),
    Column("deleted_at", String(255), nullable=True),
    # GDPR Art. 18: set while processing of the person's data is restricted (RESTRICT jobs).
    Column("processing_restricted_at", String(255), nullable=True),
    CheckConstraint(column("employment_status").in_(EMPLOYMENT_STATUSES), name="employment_status"),
    CheckConstraint(column("role").in_(ROLES), name="role"),
    # Emails and employee ids identify a person within a workspace; the people list pages by name.
    Index("ix_people_workspace_id_email", "workspace_id", "email", unique=True),
    Index("ix_people_workspace_id_employee_id", "workspace_id", "employee_id", unique=True),
    Index("ix_people_workspace_id_name", "workspace_id", "name"),
    Index("ix_people_manager_id", "manager_id"),
    Index("ix_people_sso_issuer_id", "sso_issuer_id"),
)

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("asset_tag", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("serial_number", String(255), nullable=False),
    Column("kind", String(255), nullable=False),
    Index("ix_assets_workspace_id_asset_tag", "workspace_id", "asset_tag", unique=True),
)

hardware_assignments = Table(
    "hardware_assignments",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("asset_id", Integer, ForeignKey("assets.id"), nullable=False),
    Column("assigned_at", String(255), nullable=False),
    Column("returned_at", String(255), nullable=True),
    Column("return_condition", String(255), nullable=True),
    Index("ix_hardware_assignments_workspace_id", "workspace_id"),
    Index("ix_hardware_assignments_person_id", "person_id"),
    Index("ix_hardware_assignments_asset_id", "asset_id"),
)

software = Table(
    "software",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("name", String(255), nullable=False),
    Column("edition", String(255), nullable=False),
    Index("ix_software_workspace_id_name_edition", "workspace_id", "name", "edition", unique=True),
)

software_assignments = Table(
    "software_assignments",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("software_id", Integer, ForeignKey("software.id"), nullable=False),
    Column("account_identifier", String(255), nullable=False),
    Column("assigned_at", String(255), nullable=False),
    Column("revoked_at", String(255), nullable=True),
    Column("access_level", String(255), nullable=False),
    Index("ix_software_assignments_workspace_id", "workspace_id"),
    Index("ix_software_assignments_person_id", "person_id"),
    Index("ix_software_assignments_software_id", "software_id"),
)

asset_requests = Table(
    "asset_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("title", String(255), nullable=False),
    Column("request_type", String(255), nullable=False),
    Column("status", String(255), nullable=False),
    Column("justification", Text, nullable=False),
    Column("created_at", String(255), nullable=False),
    Index("ix_asset_requests_workspace_id", "workspace_id"),
    Index("ix_asset_requests_person_id", "person_id"),
)

activity_log = Table(
    "activity_log",
    metadata,
    Column("id", Integer, primary_key=True),
    _workspace_fk(),
    Column("actor_id", Integer, ForeignKey("people.id"), nullable=True),
    Column("subject_id", Integer, ForeignKey("people.id"), nullable=True),
    Column("action", String(255), nullable=False),
    Column("details", Text, nullable=False),
    # NULL for system events, which come from no address.
    Column("ip_address", String(255), nullable=True),
    Column("created_at", String(255), nullable=False),
    # "The 1,000 most recent entries where the person was the actor or the subject."
    Index("ix_activity_log_workspace_id_created_at", "workspace_id", "created_at"),
    Index("ix_activity_log_actor_id_created_at", "actor_id", "created_at"),
    Index("ix_activity_log_subject_id_created_at", "subject_id", "created_at"),
)

# Parents before children: the order to insert in (reverse it to delete).
TABLES_IN_DEPENDENCY_ORDER: tuple[Table, ...] = tuple(metadata.sorted_tables)


def create_schema(engine: Engine) -> None:
    """Create every demo table and index that does not exist yet (indexes of existing tables too)."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
