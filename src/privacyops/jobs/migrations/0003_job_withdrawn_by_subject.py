"""A data subject's withdrawal is marked on the job (it stays Rejected) and counted apart.

On SQLite, adding a NOT NULL column rebuilds the job table, which drops its triggers: the
status-count triggers of 0002 are installed again and the counts rebuilt after the change.
"""

from importlib import import_module

from django.conf import settings
from django.db import migrations, models

_counts = import_module("privacyops.jobs.migrations.0002_job_status_counts")


def _reinstall_count_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL's ALTER TABLE keeps the table and its triggers
    for statement in [*_counts.SQLITE_REVERSE, *_counts.SQLITE,
                      "DELETE FROM jobs_jobstatuscount", _counts.RECOUNT]:
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('holds', '0001_initial'),
        ('jobs', '0002_job_status_counts'),
        ('tenancy', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='withdrawn_by_subject',
            field=models.BooleanField(default=False),
        ),
        migrations.AddIndex(
            model_name='job',
            index=models.Index(condition=models.Q(('withdrawn_by_subject', True)), fields=['tenant'], name='job_withdrawn'),
        ),
        migrations.RunPython(_reinstall_count_triggers, migrations.RunPython.noop),
    ]
