"""The append-only, hash-chained audit log."""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.db import models

from privacyops.audit.chain import CanonicalJSONEncoder


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class AppendOnlyQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only: they cannot be updated.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise TypeError("Audit events are append-only: they cannot be deleted.")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[AuditEvent]:
        if kwargs.get("update_conflicts"):
            raise TypeError("Audit events are append-only: they cannot be updated.")
        return super().bulk_create(objs, *args, **kwargs)


class AuditEvent(models.Model):
    """One audit event. `hash` covers the canonical form of the event and `prev_hash`.

    Subjects are referenced by id (never email), so erasure never rewrites the chain.
    `tenant_id` is a plain integer so that purging a tenant cannot cascade into its evidence.
    """

    # The sequence number is the key: every stored column of an event is covered by its hash.
    seq = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=100)
    actor_label = models.CharField(max_length=200, blank=True, default="")
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=40, blank=True, default="")
    target_id = models.CharField(max_length=200, blank=True, default="")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    metadata = models.JSONField(default=dict, encoder=CanonicalJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects: ClassVar[AppendOnlyQuerySet] = AppendOnlyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar = ["-seq"]
        indexes: ClassVar = [
            models.Index(fields=["tenant_id", "-seq"], name="audit_tenant_seq"),
            models.Index(fields=["action", "-seq"], name="audit_action_seq"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["actor_type", "actor_id"], name="audit_actor"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Audit events are append-only: they cannot be updated.")
        # A new instance given an existing pk would otherwise UPDATE that event in place.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only: they cannot be deleted.")


class AuditChainHead(models.Model):
    """The single row every append locks: the last sequence number and hash of the chain."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"head #{self.seq}"


class CheckpointKind(models.TextChoices):
    PERIODIC = "periodic", "Every N events"
    MANUAL = "manual", "On demand"
    PRUNE = "prune", "Retention cut"


class AuditCheckpoint(models.Model):
    """The chain head at one moment, signed with the installation's Ed25519 key.

    The key lives outside the control DB, so someone who can only write the database cannot
    make a checkpoint that matches a rewritten or shortened chain. `payload` is the exact
    signed text (canonical JSON); the other columns repeat it for queries.
    """

    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=CheckpointKind.choices)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    payload = models.TextField()
    signature = models.CharField(max_length=200)
    key_id = models.CharField(max_length=64)

    class Meta:
        ordering: ClassVar = ["-seq", "-pk"]

    def __str__(self) -> str:
        return f"checkpoint {self.kind} at #{self.seq}"


class AuditTombstone(models.Model):
    """What stays of an event that retention archived: its place and its links in the chain.

    The chain is one sequence across tenants, so deleting one tenant's old events would break
    the links of the events around them. The tombstone keeps `prev_hash` and `hash`; the
    archive keeps the content; the signed prune checkpoint lists every tombstone's hash.
    """

    seq = models.BigIntegerField(primary_key=True)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    prune = models.ForeignKey(AuditCheckpoint, on_delete=models.PROTECT, related_name="tombstones")

    def __str__(self) -> str:
        return f"archived #{self.seq}"
