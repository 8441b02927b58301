"""The record of processing activities (GDPR Art. 30) built from a tenant's data maps.

One row per entity that holds personal data: the system (datastore) it lives in, its table,
the categories of data (special categories marked), purposes, legal basis, retention and
recipients as the data map declares them. Nothing is read from the datastores themselves.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import timezone

from privacyops.datamap.schema import DataMap
from privacyops.execution.registry import datamap_for
from privacyops.tenancy.models import Tenant

NOT_DECLARED = "not declared"
CSV_HEADER = ["system", "system_description", "entity", "table", "categories",
              "special_categories", "purposes", "legal_basis", "retention", "statutory_keep",
              "recipients"]


@dataclass(frozen=True)
class RopaRow:
    system: str
    system_description: str
    entity: str
    table: str
    categories: tuple[str, ...]
    special_categories: tuple[str, ...]
    purposes: tuple[str, ...]
    legal_basis: str
    retention: str
    keep: str
    recipients: tuple[str, ...]

    def csv_row(self) -> list[str]:
        return [self.system, self.system_description, self.entity, self.table,
                "; ".join(self.categories), "; ".join(self.special_categories),
                "; ".join(self.purposes) or NOT_DECLARED, self.legal_basis or NOT_DECLARED,
                self.retention or NOT_DECLARED, self.keep, "; ".join(self.recipients)]


def ropa_rows(datamaps: Iterable[DataMap]) -> list[RopaRow]:
    """Rows of the record for the given systems' data maps, in map order."""
    rows: list[RopaRow] = []
    for datamap in datamaps:
        for name, spec in datamap.entities.items():
            categories = sorted({field.category for field in spec.fields.values()})
            if not categories:
                continue  # an entity without personal fields is not a processing activity
            rule = spec.effective_retention
            retention = ""
            if spec.retention is not None:
                retention = spec.retention.describe()
            elif rule is not None:
                retention = f"{rule.describe()} (when the keep period ends)"
            rows.append(RopaRow(
                system=datamap.name, system_description=datamap.description or "",
                entity=name, table=spec.table, categories=tuple(categories),
                special_categories=tuple(c for c in categories if datamap.is_special(c)),
                purposes=tuple(spec.purposes), legal_basis=spec.legal_basis or "",
                retention=retention, keep=spec.keep.describe() if spec.keep else "",
                recipients=tuple(spec.recipients),
            ))
    return rows


def tenant_datamaps(tenant: Tenant) -> list[DataMap]:
    """The systems of a tenant: today its one data map (none when it has no map)."""
    datamap = datamap_for(tenant)
    return [] if datamap is None else [datamap]


def ropa_csv(rows: list[RopaRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(row.csv_row())
    return out.getvalue()


def ropa_html(rows: list[RopaRow], tenant: Tenant) -> str:
    """A standalone HTML document (no scripts, no external assets) to print or archive."""
    return render_to_string("retention/ropa_document.html", {
        "rows": rows, "tenant": tenant, "generated_at": timezone.now(),
        "not_declared": NOT_DECLARED,
        "missing": sum(1 for r in rows if not r.purposes or not r.legal_basis),
    })
