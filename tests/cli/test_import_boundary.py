"""What each command imports: a command loads only what it uses, so the small ones start at once.

Each test runs the real CLI in a fresh interpreter (this process has imported everything already)
and reads back the names in its sys.modules when the command is done.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import reconciler.cli
from reconciler import keys
from reconciler.spec import load
from reconciler.store import Store
from tests.conftest import put_blob

# Run `reconciler ARGS` through its entry point, then write the name of every module it imported to
# a file: those already loaded when the interpreter started (an environment's .pth files may import
# tempfile or shutil at start-up, as CI's does) are not the command's.
SCRIPT = """
import sys
at_start = set(sys.modules)
from reconciler.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
import json
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"code": code, "modules": sorted(set(sys.modules) - at_start)}, out)
"""

# What reads a spec file's text: a run served by the parse cache needs none of it.
PARSING = (
    "yaml",
    "ryml",
    "tomllib",
    "reconciler.spec.documents",
    "reconciler.spec.positions",
    "reconciler.spec.yamldoc",
    "reconciler.spec.tomldoc",
    "reconciler.spec.expansion",
    "reconciler.spec.resolution",
)

# The network, the engine, the terminal UI, file watching, video decoding, the bucket, the fake.
HEAVY = ("httpx", "reconciler.engine", "reconciler.api.client", "rich", "watchfiles", "av", "boto3", "mockserver")

SPECS = """
videos:
  eagle:
    model: wan2.7-t2v
    prompt: An eagle
  tide:
    model: wan-2.2-t2v-fast
    prompt: Tide pools
    seed: 3
"""


def imported(project: Path, *args: str) -> set[str]:
    """The modules a `reconciler ARGS` process has imported when it ends (it must end with exit 0)."""
    report = project / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(report), *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "RECONCILER_STORE": ""},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["code"] in (0, None), done.stderr
    return set(result["modules"])


def within(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


def command_modules() -> set[str]:
    """Every module of reconciler/cli but the group and its machinery: the commands and what they share."""
    folder = Path(reconciler.cli.__file__).parent
    commands = {p.stem for p in folder.glob("*.py")} - {"__init__", "front", "group", "lazy", "process"}
    return {f"reconciler.cli.{name}" for name in commands}


@pytest.fixture
def stored(project: Path, write: Callable[[str, str], Path]) -> Path:
    """specs/ with two videos, one of them in a store on disk (so plan reads a real database)."""
    write("specs/a.yaml", SPECS)
    (eagle,) = [e for e in load([project / "specs"]).entries if e.name == "eagle"]
    with Store.open(project / ".reconciler") as store:
        blob = put_blob(store, [b"\x00\x00\x00\x18ftypmp42video"])
        store.record_output(
            keys.entry_key(keys.SEGMIND, eagle),
            digest=blob.digest,
            size=blob.size,
            model="wan2.7-t2v",
            request_id="r1",
            cost_usd=0.6,
            namespace=keys.SEGMIND,
        )
    return project


def test_help_lists_the_commands_without_importing_any(project: Path) -> None:
    modules = imported(project, "--help")
    assert within(modules, tuple(command_modules())) == set()
    assert within(modules, HEAVY) == set()


@pytest.mark.parametrize("option", ["--help", "-h", "--version"])
def test_help_and_version_are_answered_without_click(project: Path, option: str) -> None:
    modules = imported(project, option)
    assert within(modules, ("click", "reconciler.cli.group", "reconciler.cli.lazy", "reconciler.errors")) == set()


def test_a_commands_own_help_still_imports_click(project: Path) -> None:
    assert "click" in imported(project, "plan", "--help")


def test_validate_imports_neither_the_network_nor_the_engine_nor_the_terminal_ui(stored: Path) -> None:
    modules = imported(stored, "validate", "specs/")
    assert within(modules, HEAVY) == set()
    assert within(modules, ("reconciler.cli.plan", "reconciler.cli.apply", "reconciler.cli.watch")) == set()


def test_validate_on_a_warm_parse_cache_imports_no_parser_no_store_and_no_plan(stored: Path) -> None:
    imported(stored, "validate", "specs/")
    modules = imported(stored, "validate", "specs/")
    assert within(modules, ("sqlite3", "reconciler.store.store", "reconciler.plan", "yaml", "ryml")) == set()


def test_plan_reads_the_store_without_the_network_the_engine_or_the_terminal_ui(stored: Path) -> None:
    modules = imported(stored, "plan")
    assert within(modules, HEAVY) == set()
    assert "sqlite3" in modules  # it did read the store


def test_a_json_plan_with_a_lock_imports_neither_the_network_nor_the_engine(stored: Path) -> None:
    assert within(imported(stored, "plan", "--update-lock"), HEAVY) == set()
    assert within(imported(stored, "plan", "--locked", "--json"), HEAVY) == set()


def test_plan_of_the_fake_namespace_does_not_start_the_fake(stored: Path) -> None:
    assert within(imported(stored, "plan", "--mock"), HEAVY) == set()


def test_a_warm_plan_imports_no_parser_and_nothing_to_write_files_with(stored: Path) -> None:
    imported(stored, "plan")
    modules = imported(stored, "plan")
    assert within(modules, PARSING) == set()
    assert within(modules, ("tempfile", "shutil")) == set()  # it replaces no file


@pytest.mark.parametrize("package", ["reconciler.store", "reconciler.spec", "reconciler.catalog"])
def test_every_name_a_package_offers_loads_on_first_use(package: str) -> None:
    offered = importlib.import_module(package)
    for name in offered.__all__:
        assert getattr(offered, name) is not None, name
    assert not hasattr(offered, "no_such_name")
