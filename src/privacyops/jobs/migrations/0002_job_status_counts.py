"""Per-tenant, per-status job counts kept by triggers (the stat cards read them)."""

from django.db import migrations, models

_BUMP = """INSERT INTO jobs_jobstatuscount (tenant_id, status, n) VALUES ({t}, {s}, {d})
  ON CONFLICT (tenant_id, status) DO UPDATE SET n = jobs_jobstatuscount.n + {d}"""

SQLITE = [
    f"""CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs_job BEGIN
  {_BUMP.format(t="NEW.tenant_id", s="NEW.status", d=1)}; END""",
    f"""CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, tenant_id ON jobs_job
  WHEN OLD.status != NEW.status OR OLD.tenant_id != NEW.tenant_id BEGIN
  {_BUMP.format(t="OLD.tenant_id", s="OLD.status", d=-1)};
  {_BUMP.format(t="NEW.tenant_id", s="NEW.status", d=1)}; END""",
    f"""CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs_job BEGIN
  {_BUMP.format(t="OLD.tenant_id", s="OLD.status", d=-1)}; END""",
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS jobs_count_{k}" for k in ("insert", "update", "delete")]

POSTGRESQL = [
    f"""CREATE FUNCTION jobs_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    {_BUMP.format(t="OLD.tenant_id", s="OLD.status", d=-1)};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    {_BUMP.format(t="NEW.tenant_id", s="NEW.status", d=1)};
  END IF;
  RETURN NULL;
END $$""",
    """CREATE TRIGGER jobs_count_insert_delete AFTER INSERT OR DELETE ON jobs_job
  FOR EACH ROW EXECUTE FUNCTION jobs_count_change()""",
    """CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, tenant_id ON jobs_job
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
  EXECUTE FUNCTION jobs_count_change()""",
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS jobs_count_insert_delete ON jobs_job",
    "DROP TRIGGER IF EXISTS jobs_count_update ON jobs_job",
    "DROP FUNCTION IF EXISTS jobs_count_change()",
]
RECOUNT = """INSERT INTO jobs_jobstatuscount (tenant_id, status, n)
  SELECT tenant_id, status, COUNT(*) FROM jobs_job GROUP BY tenant_id, status"""


def _install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRESQL}[vendor] + [RECOUNT]:
        schema_editor.execute(statement)


def _remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRESQL_REVERSE}[vendor]:
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='JobStatusCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('tenant_id', models.BigIntegerField()),
                ('status', models.CharField(max_length=12)),
                ('n', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('tenant_id', 'status'), name='one_count_per_status')],
            },
        ),
        migrations.RunPython(_install, _remove),
    ]
