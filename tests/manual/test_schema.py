"""A manual system's map: what it accepts, and errors that name the path and the fix;
`privacyops datamap check` picks the manual schema by the file's `connector:` key."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from privacyops.datamap.loader import DataMapError
from privacyops.manual.schema import load_manual_map, parse_manual_map

GOOD = {
    "connector": "manual", "version": 1, "name": "paper-archive",
    "owner": "Archive.Keeper@Example.org",
    "instructions": {"export": "Scan folder B.", "erase": "Shred folder B."},
}


def problems(data: dict) -> dict[str, str]:
    with pytest.raises(DataMapError) as caught:
        parse_manual_map(data)
    return dict(caught.value.issues)


def test_a_complete_map_is_accepted():
    manual = parse_manual_map({**GOOD, "deadline_days": 5})
    assert manual.owner == "archive.keeper@example.org"
    assert manual.deadline_days == 5
    assert manual.instructions.for_kind("erase") == "Shred folder B."


def test_one_text_serves_both_kinds_and_one_kind_alone_is_enough():
    both = parse_manual_map({**GOOD, "instructions": "Ask Jan at the front desk."})
    assert both.does("export")
    assert both.does("erase")
    erase_only = parse_manual_map({**GOOD, "instructions": {"erase": "Shred it."}})
    assert erase_only.does("erase")
    assert not erase_only.does("export")


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"owner": "the archive team"}, "owner", "not an email address"),
    ({"instructions": {"erase": "x", "shred": "y"}}, "instructions.shred", "unknown key"),
    ({"instructions": {}}, "instructions", "export:"),
    ({"connector": "sql"}, "connector", "must be `manual`"),
    ({"deadline_days": 0}, "deadline_days", "greater than or equal to 1"),
    ({"version": 2}, "version", "1"),
    ({"colour": "red"}, "colour", "allowed here: connector, version, name, owner"),
])
def test_errors_name_the_path_and_say_what_to_do(change, path, words):
    found = problems({**GOOD, **change})
    assert path in found, found
    assert words in found[path]


def test_a_missing_key_says_to_add_it():
    data = dict(GOOD)
    del data["owner"]
    assert problems(data)["owner"] == "required; add `owner:` here"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "archive.yaml"
    path.write_text(text)
    return path


def test_datamap_check_accepts_a_manual_map(tmp_path: Path):
    path = write(tmp_path, "connector: manual\nversion: 1\nname: archive\n"
                           "owner: keeper@example.org\ninstructions:\n  erase: Shred it.\n")
    out = StringIO()
    call_command("datamap", "check", str(path), stdout=out)
    assert f"{path}: OK (manual system archive: keeper@example.org is asked to erase" \
        in out.getvalue()
    assert load_manual_map(path).name == "archive"


def test_datamap_check_names_each_problem_of_a_manual_map(tmp_path: Path):
    path = write(tmp_path, "connector: manual\nversion: 1\nname: archive\n"
                           "owner: nobody\ninstructions:\n  erase: Shred it.\n  wipe: x\n")
    err = StringIO()
    with pytest.raises(CommandError, match="2 problem"):
        call_command("datamap", "check", str(path), stderr=err)
    assert f"{path}: owner: owner 'nobody' is not an email address" in err.getvalue()
    assert f"{path}: instructions.wipe: unknown key 'wipe'" in err.getvalue()


def test_a_map_without_connector_manual_is_still_checked_as_a_data_map(tmp_path: Path):
    path = write(tmp_path, "name: archive\nowner: keeper@example.org\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("datamap", "check", str(path), stderr=err)
    # The SQL data-map schema answered: it asks for what a database map needs.
    assert "connection" in err.getvalue()


def test_a_shared_map_may_name_the_owner_per_tenant_and_version_defaults_to_1():
    data = {k: v for k, v in GOOD.items() if k != "version"}
    manual = parse_manual_map({**data, "owner": "records@{tenant}.example.com"})
    assert manual.version == 1
    assert manual.owner_for("nord") == "records@nord.example.com"
    assert "only {tenant}" in problems({**GOOD, "owner": "records@{team}.example.com"})["owner"]


def test_the_demo_writes_a_paper_files_map_this_schema_accepts(settings, tmp_path: Path):
    from privacyops.execution.demo import write_paper_files_map

    settings.DATAMAP_DIR = str(tmp_path)
    manual = load_manual_map(write_paper_files_map())
    assert manual.does("export")
    assert manual.does("erase")
    assert manual.owner_for("acme") == "records@acme.example.com"
