"""Data maps: the YAML description of an organisation's datastore the data plane works from."""

from privacyops.datamap.graph import DataMapGraph, Edge
from privacyops.datamap.live import LiveProblem, LiveReport, UnmappedObject, live_check
from privacyops.datamap.loader import (
    DataMapError,
    check_datamap_file,
    cross_reference_issues,
    load_datamap,
    parse_datamap,
    resolve_connection_url,
)
from privacyops.datamap.schema import (
    DataMap,
    EntitySpec,
    EraseAction,
    FieldSpec,
    PreconditionSpec,
    SectionSpec,
)

__all__ = [
    "DataMap",
    "DataMapError",
    "DataMapGraph",
    "Edge",
    "EntitySpec",
    "EraseAction",
    "FieldSpec",
    "LiveProblem",
    "LiveReport",
    "PreconditionSpec",
    "SectionSpec",
    "UnmappedObject",
    "check_datamap_file",
    "cross_reference_issues",
    "live_check",
    "load_datamap",
    "parse_datamap",
    "resolve_connection_url",
]
