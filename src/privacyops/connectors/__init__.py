"""Connectors: the data plane's access to an organisation's datastores (no Django here)."""

from privacyops.connectors.base import (
    ConnectorError,
    Datastore,
    EraseResult,
    ExportSection,
    PreconditionFailure,
    PreconditionsFailed,
    PurgeProgress,
    PurgeResult,
    TableChange,
    Target,
    TargetNotFound,
)

__all__ = [
    "ConnectorError",
    "Datastore",
    "EraseResult",
    "ExportSection",
    "PreconditionFailure",
    "PreconditionsFailed",
    "PurgeProgress",
    "PurgeResult",
    "TableChange",
    "Target",
    "TargetNotFound",
]
