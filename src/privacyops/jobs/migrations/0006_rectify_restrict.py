"""RECTIFY (GDPR Art. 16) and RESTRICT (Art. 18) jobs, and the `params` they carry.

On SQLite, adding a column with a default rebuilds the job table, which drops its triggers: the
status-count triggers of 0002 are installed again and the counts rebuilt after the change
(as in 0003).
"""

from importlib import import_module

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
        ('jobs', '0004_job_source_retention'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='params',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name='job',
            name='job_type',
            field=models.CharField(choices=[('EXPORT', 'Export'), ('ERASE', 'Erase'), ('PURGE', 'Purge'), ('RECTIFY', 'Rectify'), ('RESTRICT', 'Restrict')], max_length=10),
        ),
        migrations.RunPython(_reinstall_count_triggers, migrations.RunPython.noop),
    ]
