"""Systems: a tenant's datastores become rows of their own.

Each tenant that named a data map (`Tenant.datamap_name`, `Tenant.datastore_key`) gets a first
system with the same data map and key, named after the data map; then those columns go.
"""

from pathlib import Path
from typing import Any

import django.db.models.deletion
import yaml
from django.conf import settings
from django.db import migrations, models


def connection_ref_of(datamap_name: str) -> str:
    """The environment variable (or per-tenant template) the data map names, if readable."""
    try:
        document = yaml.safe_load((Path(settings.DATAMAP_DIR) / f"{datamap_name}.yaml").read_text())
        connection = document.get("connection") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return ""
    if isinstance(connection.get("per_tenant"), dict):
        return str(connection["per_tenant"].get("url_env_template", ""))
    return str(connection.get("url_env") or "")


def tenants_to_systems(apps: Any, schema_editor: Any) -> None:
    Tenant = apps.get_model("tenancy", "Tenant")
    System = apps.get_model("tenancy", "System")
    for tenant in Tenant.objects.exclude(datamap_name="").order_by("pk"):
        System.objects.create(
            tenant=tenant, name=tenant.datamap_name, connector_type="sql",
            datamap_name=tenant.datamap_name, datastore_key=tenant.datastore_key,
            connection_ref=connection_ref_of(tenant.datamap_name),
        )


def systems_to_tenants(apps: Any, schema_editor: Any) -> None:
    Tenant = apps.get_model("tenancy", "Tenant")
    System = apps.get_model("tenancy", "System")
    for tenant in Tenant.objects.all():
        first = System.objects.filter(tenant=tenant, connector_type="sql").order_by("pk").first()
        if first is not None:
            tenant.datamap_name = first.datamap_name
            tenant.datastore_key = first.datastore_key
            tenant.save(update_fields=["datamap_name", "datastore_key"])


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='tenant',
            name='is_active',
            field=models.BooleanField(default=True),
        ),
        migrations.CreateModel(
            name='System',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('connector_type', models.CharField(choices=[('sql', 'SQL database')], default='sql', max_length=20)),
                ('datamap_name', models.CharField(max_length=100)),
                ('connection_ref', models.CharField(blank=True, default='', max_length=200)),
                ('datastore_key', models.CharField(blank=True, default='', max_length=200)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='systems', to='tenancy.tenant')),
            ],
            options={
                'ordering': ['tenant_id', 'id'],
                'constraints': [models.UniqueConstraint(fields=('tenant', 'name'), name='system_name_per_tenant')],
            },
        ),
        migrations.RunPython(tenants_to_systems, systems_to_tenants),
        migrations.RemoveField(
            model_name='tenant',
            name='datamap_name',
        ),
        migrations.RemoveField(
            model_name='tenant',
            name='datastore_key',
        ),
    ]
