"""`make demo` in a fresh copy of the repository installs what running needs and nothing of the
development toolchain, and runs the quickstart.

The copy is made from the working tree's files as git sees them (tracked and new, not
ignored: `git ls-files`), so the test checks the Makefile and pyproject.toml as they are now,
committed or not, and nothing of this checkout's .venv, build/ or results/ leaks in. It
installs from PyPI (pip's cache makes a second run quick) and compiles the numba kernels
afresh: a minute or two.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import REPO

# Named in the issue, and checked by name whatever pyproject's dev extra says.
TOOLS = {"pytest", "ruff", "mypy", "import-linter", "testcontainers", "kmock", "grpcio-tools"}
REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9._-]+")


def normalized(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = REQUIREMENT_NAME.match(requirement)
        assert match, requirement
        names.add(normalized(match.group(0)))
    return names


def project() -> dict[str, Any]:
    return dict(tomllib.loads((REPO / "pyproject.toml").read_text())["project"])


def dev_tools() -> set[str]:
    """The distributions of pyproject.toml's dev extra, and the tools named above."""
    dev = requirement_names(project()["optional-dependencies"]["dev"])
    return dev | {normalized(tool) for tool in TOOLS}


def fresh_copy(destination: Path) -> Path:
    """The working tree's files that git knows or would add, nothing ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def clean_environment() -> dict[str, str]:
    """As a user's shell would have it: no active virtual environment, no gossipsim settings,
    and nothing of an enclosing `make test` (its MAKEFLAGS would pass its VENV along)."""
    dropped = {"VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "PYTHONPATH"}
    env = {
        k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("GOSSIPSIM_")
    }
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


@pytest.mark.timeout(1200)
def test_make_demo_installs_no_development_tools_and_runs_the_quickstart(tmp_path: Path) -> None:
    checkout = fresh_copy(tmp_path / "gossipsim")
    assert not (checkout / ".venv").exists() and (checkout / "Makefile").is_file()
    demo = subprocess.run(
        ["make", "demo"],
        cwd=checkout,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert demo.returncode == 0, f"{demo.stdout[-3000:]}\n{demo.stderr[-3000:]}"

    listed = subprocess.run(
        [str(checkout / ".venv" / "bin" / "pip"), "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {normalized(package["name"]) for package in orjson.loads(listed)}
    assert "gossipsim" in installed
    assert requirement_names(project()["dependencies"]) <= installed
    assert sorted(installed & dev_tools()) == []

    # the demo ran the quickstart: 45 runs, all of them completed, into ./results
    assert re.search(r"^45 runs, 0 failed\. Results: ", demo.stdout, re.MULTILINE), demo.stdout
    (simulation,) = (checkout / "results" / "simulations").iterdir()
    with (simulation / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 45 and {row["status"] for row in rows} == {"completed"}
    assert (simulation / "averaged.csv").is_file()
