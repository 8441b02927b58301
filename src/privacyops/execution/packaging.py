"""Writing an export package: export.json, one CSV per section, manifest.json, zipped.

Rows are streamed to files in a temporary folder, never held in memory as a whole.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from privacyops.connectors import ExportSection


@dataclass(frozen=True)
class Package:
    path: Path
    size: int
    sha256: str
    sections: dict[str, int]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def write_export_json(
    sections: Iterable[ExportSection], out: IO[str], header: dict[str, Any],
    csv_dir: Path | None = None,
) -> dict[str, int]:
    """Stream a JSON document `{**header, section: [rows…], …}`; optionally a CSV per section."""
    counts: dict[str, int] = {}
    out.write("{")
    for key, value in header.items():
        out.write(f"{json.dumps(key)}: {json.dumps(value, default=str)}, ")
    first_section = True
    for section in sections:
        if not first_section:
            out.write(", ")
        first_section = False
        out.write(f"{json.dumps(section.name)}: [")
        csv_handle = writer = None
        if csv_dir is not None:
            csv_handle = (csv_dir / f"{section.name}.csv").open("w", newline="", encoding="utf-8")
            writer = csv.DictWriter(csv_handle, fieldnames=section.columns, extrasaction="ignore")
            writer.writeheader()
        count = 0
        for row in section.rows:
            out.write((", " if count else "") + json.dumps(row, default=str, ensure_ascii=False))
            if writer is not None:
                writer.writerow(
                    {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
                )
            count += 1
        out.write("]")
        if csv_handle is not None:
            csv_handle.close()
        counts[section.name] = count
    out.write("}\n")
    return counts


def build_package(
    sections: Iterable[ExportSection], workdir: Path, header: dict[str, Any],
    special_categories: list[str] | None = None,
) -> Package:
    """Write the package into `workdir` and zip it; returns the zip's path, size and sha256.

    ``special_categories`` (GDPR Art. 9/10 data in the package) is stated in the manifest, so
    whoever handles the file knows it needs the care such data requires.
    """
    content = workdir / "content"
    content.mkdir()
    with (content / "export.json").open("w", encoding="utf-8") as out:
        counts = write_export_json(sections, out, header, csv_dir=content)
    files = sorted(p for p in content.iterdir() if p.is_file())
    manifest = {
        **header,
        "sections": counts,
        "special_categories": special_categories or [],
        "files": [
            {"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)} for p in files
        ],
    }
    (content / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    archive = workdir / "package.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in [*files, content / "manifest.json"]:
            zipped.write(path, arcname=path.name)
    return Package(archive, archive.stat().st_size, sha256_file(archive), counts)
