"""Mutation testing of the modules that hold PrivacyOps' promises (run by scripts/mutation).

Each module is mutated by mutmut 3 in a work folder of its own (.mutation/<name>/) and
tested against its own small test subset, so a mutant of the crypto module never waits for
the job tests. Per module this prints killed and survived mutants (the survivors with their
diffs go to .mutation/<name>/survivors.txt) and, as the last line, one JSON object:
{"modules": {name: score}, "score": overall, "survivors": n}, scores as fractions killed.

mutmut 3 does not mutate decorated functions (`@transaction.atomic(durable=True)`,
`@contextmanager`). The work folder's copy of a mutated module has its decorators applied
after the definition instead (`f = decorator(f)`), which means the same; mutmut then mutates
those functions too. Nothing in src/ is changed.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
TARGET = 0.90
DETECTED = {"killed", "timeout", "caught by type check", "segfault"}
UNDETECTED = {"survived", "no tests", "suspicious"}


@dataclass(frozen=True)
class Module:
    name: str
    files: tuple[str, ...]
    tests: tuple[str, ...]
    # Mutant name patterns to run (default: every mutant of `files`).
    only: tuple[str, ...] = ()
    # Mutants the database tests of one process must run one at a time.
    serial: bool = True
    extra_args: tuple[str, ...] = field(default=())


# The modules whose promises the issue names, the most stable first: the audit chain, hold
# coverage and rate limits are being changed in parallel and come last.
MODULES: tuple[Module, ...] = (
    Module("crypto", ("src/privacyops/execution/crypto.py",),
           ("tests/execution/test_crypto.py",), serial=False),
    Module("policy", ("src/privacyops/tenancy/policy.py",),
           ("tests/tenancy/test_policy.py", "tests/tenancy/test_policy_edges.py")),
    # The transitions and the worker's lease: creation, validation and the reconciler are
    # left out to keep the run short.
    Module("state_machine", ("src/privacyops/jobs/services.py",),
           ("tests/jobs/test_transitions.py", "tests/jobs/test_services.py",
            "tests/jobs/test_leases.py", "tests/jobs/test_state_machine.py"),
           only=tuple(f"privacyops.jobs.services.x_{name}__mutmut_*" for name in (
               "_transition", "_require_status", "_job_approve", "_job_reject", "_job_retry",
               "_job_cancel", "job_claim", "_claimable", "job_heartbeat", "job_lease_held",
               "_owned_job", "_finish_failed", "job_complete", "job_fail",
               "job_release_for_retry"))),
    Module("link_signing", ("src/privacyops/execution/selectors.py",
                            "src/privacyops/execution/executors.py"),
           ("tests/execution/test_download_links.py", "tests/execution/test_link_signing.py"),
           # selectors.py also holds the systems' health checks, which are not about links.
           only=("privacyops.execution.selectors.x_artifact_from_token__mutmut_*",
                 "privacyops.execution.selectors.x_artifact_for_viewer__mutmut_*",
                 "privacyops.execution.executors.x_signed_download_path__mutmut_*")),
    Module("sql_write", ("src/privacyops/connectors/sql_write.py",),
           ("tests/connectors/test_sql_shop.py::TestErase",
            "tests/connectors/test_sql_shop.py::TestPurge", "tests/connectors/test_sql_demo.py",
            "tests/connectors/test_sql_references.py",
            "tests/connectors/test_sql_erase_columns.py"),
           extra_args=("-m", "not mysql")),
    Module("hold_guard", ("src/privacyops/execution/guards.py",),
           ("tests/execution/test_guards.py", "tests/holds/test_coverage.py"),
           extra_args=("-m", "not mysql")),
    Module("hold_coverage", ("src/privacyops/holds/selectors.py",),
           ("tests/holds/test_selectors.py",)),
    Module("rate_limits", ("src/privacyops/intake/ratelimit.py",),
           ("tests/intake/test_public.py::TestRateLimit",)),
    Module("audit_chain", ("src/privacyops/audit/chain.py",),
           ("tests/audit/test_chain.py", "tests/audit/test_chain_verdicts.py")),
)


class _Unroll(cst.CSTTransformer):
    """`@a @b def f` at module level becomes `def f` followed by `f = a(b(f))`."""

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body: list[cst.BaseStatement | cst.BaseSmallStatement] = []
        for statement in updated.body:
            if isinstance(statement, cst.FunctionDef) and statement.decorators:
                body.append(statement.with_changes(decorators=()))
                wrapped: cst.BaseExpression = cst.Name(statement.name.value)
                for decorator in reversed(statement.decorators):
                    wrapped = cst.Call(func=decorator.decorator, args=[cst.Arg(wrapped)])
                body.append(cst.SimpleStatementLine([cst.Assign(
                    targets=[cst.AssignTarget(cst.Name(statement.name.value))], value=wrapped)]))
            else:
                body.append(statement)
        return updated.with_changes(body=body)


def unroll_decorators(path: Path) -> None:
    module = cst.parse_module(path.read_text())
    path.write_text(module.visit(_Unroll()).code)


def existing_tests(module: Module) -> list[str]:
    """The module's test subset, less files not written yet (pytest refuses a missing path)."""
    return [t for t in module.tests if (ROOT / t.split("::")[0]).exists()]


def prepare(module: Module) -> Path:
    folder = WORK / module.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "src", folder / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in module.files:
        unroll_decorators(folder / name)
    (folder / "tests").symlink_to(ROOT / "tests")
    (folder / "data").mkdir()
    settings = {
        "source_paths": ["src/privacyops"],
        "only_mutate": list(module.files),
        "pytest_add_cli_args_test_selection": existing_tests(module),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "--reuse-db", *module.extra_args],
        "use_setproctitle": False,
        "timeout_multiplier": 10.0,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    (folder / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + "\n".join(lines) + "\n")
    return folder


def results(folder: Path, module: Module) -> dict[str, str]:
    from mutmut.stats import status_by_exit_code

    statuses: dict[str, str] = {}
    for name in module.files:
        meta = folder / "mutants" / (name + ".meta")
        if not meta.exists():
            continue
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if module.only and not any(fnmatch.fnmatch(key, p) for p in module.only):
                continue
            statuses[key] = status_by_exit_code[code]
    return statuses


def _function(source: str, name: str) -> list[str]:
    # Up to the next line as little indented, not counting the `) -> …:` that closes a
    # signature written over several lines.
    found = re.search(rf"^([ \t]*)def {re.escape(name)}\(.*?(?=^\1?(?!\))\S)", source, re.S | re.M)
    if not found:
        return []
    lines = found.group(0).splitlines()
    return [lines[0].replace(f"def {name}(", "def (", 1), *lines[1:]]


def mutant_diff(folder: Path, module: Module, key: str) -> str:
    """The lines a mutant changes, read from mutmut's mutated copy of the module."""
    function = key.rsplit(".", 1)[1]
    original = function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    for name in module.files:
        source = (folder / "mutants" / name).read_text()
        before, after = _function(source, original), _function(source, function)
        if after:
            return "\n".join(line for line in difflib.unified_diff(before, after, lineterm="", n=0)
                             if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    return "(diff not found)"


def run(module: Module, mutmut: str, max_children: int, *, report_only: bool,
        retest: bool = False) -> dict[str, str]:
    folder = WORK / module.name if report_only or retest else prepare(module)
    env = {**os.environ, "PRIVACYOPS_DATA_DIR": str(folder / "data"), "PYTHONDONTWRITEBYTECODE": "1"}
    children = 1 if module.serial else max_children
    names = list(module.only)
    if retest:
        names = sorted(k for k, s in results(folder, module).items() if s in UNDETECTED)
        shutil.copytree(ROOT / "tests", folder / "mutants" / "tests", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        if not names:
            return results(folder, module)
    command = [mutmut, "run", "--max-children", str(children), *names]
    started = time.monotonic()
    finished = subprocess.CompletedProcess(command, 0)
    if not report_only:
        with (folder / "run.log").open("w") as log:
            finished = subprocess.run(command, cwd=folder, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, check=False)
    statuses = results(folder, module)
    survivors = sorted(k for k, s in statuses.items() if s in UNDETECTED)
    with (folder / "survivors.txt").open("w") as out:
        for key in survivors:
            out.write(f"# {key}: {statuses[key]}\n{mutant_diff(folder, module, key)}\n")
    if finished.returncode != 0 or not statuses:
        print(f"{module.name}: mutmut exited {finished.returncode}; see {folder / 'run.log'}",
              file=sys.stderr)
    checked = sum(1 for s in statuses.values() if s != "not checked")
    print(f"{module.name}: {checked} of {len(statuses)} mutants checked in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module names (default: all)",
                        choices=[[]] + [m.name for m in MODULES], default=[])
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--retest-survivors", action="store_true",
                        help="run the last run's survivors again against the current tests")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="run (and report) only the mutants matching this name pattern, "
                             "e.g. 'privacyops.connectors.sql_write.x_detach_references__mutmut_*'")
    parser.add_argument("--report-only", action="store_true",
                        help="read the results of the last (or a still running) run, run nothing")
    options = parser.parse_args()
    chosen = [m for m in MODULES if not options.modules or m.name in options.modules]
    if options.only:
        chosen = [replace(m, only=tuple(options.only)) for m in chosen]
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    scores: dict[str, float] = {}
    detected_total = undetected_total = 0
    for module in chosen:
        statuses = run(module, mutmut, options.max_children, report_only=options.report_only,
                       retest=options.retest_survivors)
        detected = sum(1 for s in statuses.values() if s in DETECTED)
        undetected = [k for k, s in sorted(statuses.items()) if s in UNDETECTED]
        counted = detected + len(undetected)
        scores[module.name] = round(detected / counted, 3) if counted else 0.0
        detected_total += detected
        undetected_total += len(undetected)
        print(f"{module.name}: killed {detected}, survived {len(undetected)}, "
              f"score {scores[module.name]:.1%}", flush=True)
        for key in undetected:
            print(f"    survived: {key} ({statuses[key]})")
    overall = detected_total / (detected_total + undetected_total) if detected_total else 0.0
    print(json.dumps({"modules": scores, "score": round(overall, 3), "survivors": undetected_total}))
    return 0 if scores and all(s >= TARGET for s in scores.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
