"""IntakeRequest.listed_for_person: whether the request's identity hash is of the person's
email (so their privacy center lists it). Requests recorded before are worked out once, the way
the request page used to on every view: one without an email whose hash is that of its subject
ids is not listed."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    from privacyops.intake.lifecycle import identity_digest

    IntakeRequest = apps.get_model("intake", "IntakeRequest")
    Job = apps.get_model("jobs", "Job")
    unlisted = []
    for request in (IntakeRequest.objects.filter(email="").exclude(identity_hash="")
                    .iterator(chunk_size=500)):
        ids = {request.subject_id} | set(Job.objects.filter(
            request_id=request.pk, target_type="subject").values_list("target_id", flat=True))
        ids.discard("")
        if ids and request.identity_hash == identity_digest(request.tenant_id, "",
                                                            tuple(sorted(ids))):
            unlisted.append(request.pk)
    IntakeRequest.objects.filter(pk__in=unlisted).update(listed_for_person=False)


class Migration(migrations.Migration):

    dependencies = [
        ("intake", "0003_privacy_requests_data"),
        ("jobs", "0008_job_request"),
    ]

    operations = [
        migrations.AddField(
            model_name="intakerequest",
            name="listed_for_person",
            field=models.BooleanField(default=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
