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
    SystemConnector,
    TableChange,
    Target,
    TargetNotFound,
    canonical_identity,
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
    "SystemConnector",
    "TableChange",
    "Target",
    "TargetNotFound",
    "canonical_identity",
]
