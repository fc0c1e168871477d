"""The Python API is quiet unless GOSSIPSIM_LOG_LEVEL asks otherwise, and the node processes
it starts follow the same level."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys
import networkx as nx
import gossipsim
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.runner.driver import RunSettings
from gossipsim.runner.simulate import simulate

settings = RunSettings(max_rounds=20)
asyncio.run(simulate(nx.cycle_graph(8), resolve_algorithm(rule="min"), settings=settings))
spec = {"name": "quiet", "graphs": [nx.path_graph(6)], "algorithms": ["default"], "max_rounds": 20}
results = gossipsim.run(spec, out=sys.argv[1])
print(len(results.summary))
"""


def run_script(out: Path, level: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GOSSIPSIM_LOG_LEVEL"}
    if level is not None:
        env["GOSSIPSIM_LOG_LEVEL"] = level
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_quiet_by_default_and_as_verbose_as_asked(tmp_path):
    quiet = run_script(tmp_path / "quiet", None)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "1"
    assert quiet.stderr == ""  # no "[debug] node started", no info lines
    verbose = run_script(tmp_path / "verbose", "debug")
    assert verbose.returncode == 0, verbose.stderr
    assert "node started" in verbose.stderr  # the launcher, in this process
    assert "shard configured" in verbose.stderr  # a node process, at info
    assert "results stored" in verbose.stderr  # the collector, at info
