"""Old intake statuses become the request lifecycle; each request's job points back to it.

open → verified (email confirmed) or received; fulfilled → completed when its job completed,
else in_progress; closed → completed; rejected stays rejected. Every request gets the keyed
hash of its identity (duplicates are found by it) and a first timeline line.
"""

import hashlib
import hmac
import unicodedata

from django.conf import settings
from django.db import migrations


def _identity_hash(tenant_id, email):
    email = unicodedata.normalize("NFKC", email or "").strip().casefold()
    message = f"privacy-request-identity|{tenant_id}|{email}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def forwards(apps, schema_editor):
    Request = apps.get_model("intake", "IntakeRequest")
    Job = apps.get_model("jobs", "Job")
    Event = apps.get_model("intake", "RequestEvent")
    for request in Request.objects.all().iterator():
        old = request.status
        if old == "open":
            request.status = "verified" if request.verified_at else "received"
        elif old == "fulfilled":
            job_status = Job.objects.filter(pk=request.job_id).values_list(
                "status", flat=True).first()
            request.status = "completed" if job_status == "Completed" else "in_progress"
        elif old == "closed":
            request.status = "completed"
        request.identity_hash = _identity_hash(request.tenant_id, request.email)
        request.save(update_fields=["status", "identity_hash"])
        if request.job_id:
            Job.objects.filter(pk=request.job_id, request__isnull=True).update(request=request)
        Event.objects.create(request=request, at=request.submitted_at, kind="received",
                             actor_label="intake form", data={"channel": "intake"})


def backwards(apps, schema_editor):
    Request = apps.get_model("intake", "IntakeRequest")
    mapping = {"received": "open", "verified": "open", "in_progress": "fulfilled",
               "completed": "closed", "withdrawn": "rejected", "merged": "rejected"}
    for old_new, old in mapping.items():
        Request.objects.filter(status=old_new).update(status=old)
    Request.objects.filter(status="closed", job__isnull=False).update(status="fulfilled")


class Migration(migrations.Migration):

    dependencies = [
        ("intake", "0002_privacy_requests"),
        ("jobs", "0008_job_request"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
