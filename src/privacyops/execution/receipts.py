"""Erasure receipts: a signed statement of what an ERASE or PURGE removed, anyone can check.

The receipt is issued in the transaction that completes the job, from the job's result: per
system and table the rows changed (ERASE) or deleted (PURGE) and the categories of data they
held, the hash of the job's ``job.completed`` audit event and the chain head at that moment.
It is signed with the installation's Ed25519 key (the one that signs audit checkpoints) over
its canonical JSON, so it proves itself with the public key alone
(``/.well-known/privacyops/receipt-key``); against the installation, the audit event it names
can also be found in the verified chain. It names the person only by the canonical key of the
system, never by email or name.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.apps import apps
from django.utils import timezone

from privacyops.audit.models import AuditChainHead, AuditEvent
from privacyops.audit.signing import key_id, public_key, sign, signature_valid
from privacyops.errors import NotFound
from privacyops.jobs.models import Job

RECEIPT_KIND = "privacyops.erasure-receipt"
RECEIPT_VERSION = 1


def receipt_payload(document: dict[str, Any]) -> bytes:
    """The bytes the signature covers: the receipt without its signature, canonical JSON."""
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _tables(job: Job) -> list[dict[str, Any]]:
    result: dict[str, Any] = job.result or {}
    categories: dict[str, list[str]] = result.get("categories") or {}
    special: dict[str, list[str]] = result.get("special_categories") or {}
    rows: list[dict[str, Any]] = []
    for table, value in (result.get("tables") or {}).items():
        count = int(value["rows"] if isinstance(value, dict) else value)
        rows.append({"table": table, "rows": count,
                     "categories": categories.get(table, []),
                     "special_categories": special.get(table, [])})
    return rows


def _request_reference(job: Job) -> str | None:
    found = job.request_id
    if found is None:  # a job from before requests had several jobs
        request = apps.get_model("intake", "IntakeRequest")
        found = request.objects.filter(job=job).values_list("pk", flat=True).first()
    return None if found is None else f"request #{found}"


def receipt_issue(*, job: Job, entry: Any, completed: AuditEvent) -> dict[str, Any]:
    """Build and sign the receipt of a completed ERASE or PURGE (inside its transaction)."""
    head = AuditChainHead.objects.get(pk=1)
    tables = _tables(job)
    special = sorted({c for table in tables for c in table["special_categories"]})
    document: dict[str, Any] = {
        "kind": RECEIPT_KIND,
        "version": RECEIPT_VERSION,
        "issued_at": timezone.now().isoformat(),
        "request": _request_reference(job),
        "tenant": {"slug": job.tenant.slug, "name": job.tenant.name},
        "job": {"id": job.pk, "type": job.job_type, "target_type": job.target_type,
                "target_id": job.target_id,
                "completed_at": job.finished_at.isoformat() if job.finished_at else None},
        "systems": [{
            "system": entry.system,
            "action": "rows deleted" if job.job_type == "PURGE" else "rows changed",
            "rows": sum(table["rows"] for table in tables),
            "tables": tables,
        }],
        "special_categories": special,
        "audit": {
            "event": {"seq": completed.seq, "action": completed.action, "hash": completed.hash},
            "head": {"seq": head.seq, "hash": head.hash},
        },
    }
    signature, signer = sign(receipt_payload(document))
    document["signature"] = {"algorithm": "Ed25519", "key_id": signer, "value": signature}
    return document


def receipt_for_job(job: Job) -> dict[str, Any]:
    """The signed receipt of a completed ERASE or PURGE job; NotFound for any other job."""
    entry = apps.get_model("execution", "ErasureLedgerEntry").objects.filter(job=job).first()
    if entry is None or not entry.receipt:
        raise NotFound(f"Job #{job.pk} has no erasure receipt: only completed ERASE and PURGE "
                       "jobs get one.")
    receipt: dict[str, Any] = entry.receipt
    return receipt


def receipt_file_text(document: dict[str, Any]) -> str:
    """A receipt as the file a person or an operator downloads (the signature covers the
    canonical JSON, so any spelling verifies; this is the one the platform hands out)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def receipt_problems(document: Any, *, public: Ed25519PublicKey | None = None,
                     check_chain: bool = False) -> list[str]:
    """Why the receipt is not to be trusted; an empty list means it verifies.

    The signature is checked with ``public`` (default: the installation's key). With
    ``check_chain``, the audit event it names must be in this installation's chain with the
    same hash, and the chain must verify.
    """
    if not isinstance(document, dict) or document.get("kind") != RECEIPT_KIND:
        return ["This is not a PrivacyOps erasure receipt (its `kind` is missing or different)."]
    signed = document.get("signature")
    if not isinstance(signed, dict) or not isinstance(signed.get("value"), str):
        return ["The receipt carries no signature."]
    key = public or public_key()
    if signed.get("key_id") != key_id(key):
        return [f"The receipt was signed with key {signed.get('key_id')}, not with this key "
                f"({key_id(key)}); verify it with the issuing installation's public key."]
    if not signature_valid(key, receipt_payload(document), signed["value"]):
        return ["The signature does not match the receipt: it was changed after it was issued."]
    if not check_chain:
        return []
    from privacyops.audit.selectors import audit_verify

    problems = []
    named = (document.get("audit") or {}).get("event") or {}
    seq = named.get("seq")
    event = AuditEvent.objects.filter(pk=seq).first() if isinstance(seq, int) else None
    if event is None:
        problems.append(f"Audit event #{named.get('seq')} is not in this installation's chain "
                        "(pruned by retention, or another installation).")
    elif event.hash != named.get("hash"):
        problems.append(f"Audit event #{event.seq} has another hash in the chain than the one "
                        "the receipt names.")
    chain = audit_verify()
    if not chain.ok:
        problems.append(f"The audit chain does not verify: {chain.sentence()}")
    return problems
