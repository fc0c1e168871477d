"""The README's "Beyond one process" recipe, run as written on one host against the real
RabbitMQ: the three services started side by side, the quickstart submitted, its status
followed until completed, its results fetched.

The commands are read from the README's code block, so the test follows the README when it
changes (and fails when it no longer works). Each command runs in its own ``bash -c`` after the
block's setup lines (activating the virtual environment, the ``export``), verbatim; the test
only adds ``GOSSIPSIM_PREFIX`` (and the test broker's URL where it is not the README's), so the
shared broker keeps nothing of it. The working directory is a temporary one holding links to
``.venv`` and ``examples``, so ``GOSSIPSIM_STORE=results`` and the results copy land there.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO
from tests.support.rabbitmq import URL, delete_prefixed, require_broker, unique_prefix

README_BROKER = "amqp://guest:guest@localhost:5672/"
SAME_BROKER = "amqp://guest:guest@127.0.0.1:5672/"  # the tests' default: the README's broker
SERVICES = ("scheduler", "collector", "runner")
RESULTS_PLACEHOLDER = "<simulation-id>"


@dataclass(frozen=True, slots=True)
class Recipe:
    """The README block, split into what the test does with each line."""

    setup: list[str]  # run before every command, in the same shell (activate, export)
    services: list[str]  # the `&` line: long-running, one process each
    submit: str  # prints the simulation id
    status: str  # polled until the simulation has completed
    results: str  # from the status line's comment, with RESULTS_PLACEHOLDER


def read_recipe(readme: Path) -> Recipe:
    text = readme.read_text()
    assert "\n## Beyond one process\n" in text, "the README lost its 'Beyond one process' section"
    section = text.split("\n## Beyond one process\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "no ```sh block in the README's 'Beyond one process' section"
    setup: list[str] = []
    services: list[str] = []
    foreground: list[tuple[str, str]] = []  # (command, its comment)
    for line in block.group(1).splitlines():
        command, _, comment = line.partition(" #")
        command = command.strip()
        if not command:
            continue
        if command.endswith("&"):
            services = [part.strip() for part in command.split("&") if part.strip()]
        elif not services:
            setup.append(command)
        else:
            foreground.append((command, comment))
    assert [s.split()[-1] for s in services] == list(SERVICES), services
    assert all(shlex.split(s)[:2] == ["gossipsim", "serve"] for s in services), services
    (submit, _), (status, status_comment) = foreground
    assert shlex.split(submit)[:2] == ["gossipsim", "submit"], submit
    assert shlex.split(status) == ["gossipsim", "status"], status
    results = re.search(r"gossipsim results <simulation-id>", status_comment)
    assert results, f"the status line no longer says how to get the results: {status_comment!r}"
    return Recipe(setup, services, submit, status, results.group(0))


@dataclass(slots=True)
class Shell:
    """Runs the recipe's commands in ``workdir`` the way a shell session would."""

    workdir: Path
    recipe: Recipe
    additions: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        """The test's environment without gossipsim's settings or an active virtual
        environment: what the README's lines set is all there is."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith("GOSSIPSIM_")}
        keep.pop("VIRTUAL_ENV", None)
        return keep

    def script(self, command: str) -> str:
        exports = [f"export {k}={shlex.quote(v)}" for k, v in self.additions.items()]
        return "\n".join([*self.recipe.setup, *exports, command])

    def start(self, command: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as output:
            return subprocess.Popen(
                ["bash", "-c", self.script(command)],
                cwd=self.workdir,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped whole, nodes too
            )

    def run(self, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", self.script(command)],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each service's process group, then SIGKILL what is left after 30 s."""
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever the group still holds
        process.wait()


def health_port(log: Path) -> int | None:
    """The port a service logged for its /healthz and /readyz (JSON lines: no terminal)."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "health endpoints":
            return int(entry["port"])
    return None


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def phase_of(status_table: str, simulation_id: str) -> str | None:
    """The PHASE column of the simulation's line in `gossipsim status`."""
    for line in status_table.splitlines():
        cells = line.split()
        if cells and cells[0] == simulation_id:
            return cells[2]
    return None


def test_the_readme_reads_as_a_recipe() -> None:
    """The parse this test relies on, on the README as it is."""
    recipe = read_recipe(REPO / "README.md")
    assert any(line.startswith("export ") for line in recipe.setup)
    assert recipe.submit == "gossipsim submit examples/quickstart.yaml"


@pytest.mark.timeout(600)
async def test_the_distributed_recipe_runs_the_quickstart_on_one_host(tmp_path: Path) -> None:
    await require_broker(URL)
    recipe = read_recipe(REPO / "README.md")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    prefix = unique_prefix()
    additions = {"GOSSIPSIM_PREFIX": prefix}
    if URL != SAME_BROKER:  # the tests were given another broker than the README's
        additions["GOSSIPSIM_BROKER_URL"] = URL
    assert README_BROKER in "\n".join(recipe.setup)
    shell = Shell(tmp_path, recipe, additions)
    logs = {service: tmp_path / f"{service}.log" for service in SERVICES}
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def check_alive() -> None:
        dead = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        shown = "\n".join(
            f"--- {n} ---\n{logs[n].read_text(errors='replace')[-3000:]}" for n in dead
        )
        assert not dead, f"services exited: {dead}\n{shown}"

    try:
        for service, command in zip(SERVICES, recipe.services, strict=True):
            processes[service] = shell.start(command, logs[service])

        # every service up, each on its own health port (the recipe's three share one host)
        deadline = time.monotonic() + 120
        ports: dict[str, int] = {}
        while len(ports) < len(SERVICES) or not all(map(ready, ports.values())):
            check_alive()
            assert time.monotonic() < deadline, f"not ready: {ports}"
            for service in SERVICES:
                if service not in ports and (port := health_port(logs[service])) is not None:
                    ports[service] = port
            await asyncio.sleep(0.5)
        assert len(set(ports.values())) == len(SERVICES), ports

        submitted = shell.run(recipe.submit)
        assert submitted.returncode == 0, submitted.stderr
        simulation_id = submitted.stdout.strip()
        assert re.fullmatch(r"quickstart-[0-9a-f]+", simulation_id), submitted.stdout

        deadline = time.monotonic() + 420
        phase = None
        while phase != "completed":
            check_alive()
            assert time.monotonic() < deadline, f"still {phase!r} after 7 minutes"
            status = shell.run(recipe.status)
            assert status.returncode == 0, status.stderr
            phase = phase_of(status.stdout, simulation_id)
            assert phase in (None, "running", "completed"), status.stdout
            await asyncio.sleep(1)

        # The scheduler records "completed" just before the collector writes the results:
        # `gossipsim results` says "not completed yet" for that moment, so ask again briefly.
        results_command = recipe.results.replace(RESULTS_PLACEHOLDER, simulation_id)
        deadline = time.monotonic() + 60
        while (fetched := shell.run(results_command)).returncode != 0:
            assert "not completed yet" in fetched.stderr, fetched.stderr
            assert time.monotonic() < deadline, fetched.stderr
            await asyncio.sleep(1)
        check_alive()
    finally:
        stop(processes)
        await delete_prefixed(prefix, URL)

    assert fetched.stdout.strip() == simulation_id  # copied into the current directory
    copied = tmp_path / simulation_id
    manifest = orjson.loads((copied / "manifest.json").read_bytes())
    assert (manifest["runs_total"], manifest["runs_failed"]) == (45, 0)
    with (copied / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 45 and {row["status"] for row in rows} == {"completed"}
    with (copied / "averaged.csv").open() as handle:
        averaged = list(csv.DictReader(handle))
    assert len(averaged) == 9  # 3 graphs (one swept over m) × 3 algorithms
    assert sum(int(row["runs"]) for row in averaged) == 45
    assert (tmp_path / "results" / "simulations" / simulation_id / "manifest.json").is_file()
