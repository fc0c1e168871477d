"""`gossipsim run` never hangs on a submission the services cannot take: it exits 2 and says why."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson

from gossipsim import embedded
from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES

SMALL_SPEC = {
    "name": "small",
    "graphs": [{"generator": "cycle_graph", "params": {"n": 8}}],
    "algorithms": ["default"],
    "repetitions": 1,
}


def test_a_spec_larger_than_a_message_may_be_exits_2_at_once(tmp_path):
    lines = [f"{v} {v + 1}" for v in range(1_200_000)]  # about 11.7 MB of inline adjacency
    spec = {**SMALL_SPEC, "graphs": [{"adjacency": lines}]}
    path = tmp_path / "huge.json"
    path.write_bytes(orjson.dumps(spec))
    assert path.stat().st_size > MAX_MESSAGE_BYTES
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "gossipsim.cli.main", "run", str(path), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert "over the limit" in completed.stderr and "bytes a message may have" in completed.stderr
    assert time.monotonic() - started < 60
    assert not (tmp_path / "simulations").exists()


async def test_a_submission_the_scheduler_dead_letters_ends_the_wait(tmp_path, monkeypatch):
    """A scheduler bug that fails the submission on every delivery dead-letters it at the
    delivery limit; run_embedded reports that instead of waiting for ever, in the words of one
    process (no queue, so no "dead-lettered")."""

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a scheduler bug")

    monkeypatch.setattr("gossipsim.scheduler.service.SchedulerService._submit", crash)
    outcome = await embedded.run_embedded(SMALL_SPEC, out_dir=Path(tmp_path))
    assert outcome.rejection is not None
    assert outcome.rejection.reason == "the scheduler could not take it: failed 5 times"
    assert outcome.state is None


def test_gossipsim_run_reads_the_graph_limits_of_its_environment(tmp_path, monkeypatch, capsys):
    """The same GOSSIPSIM_MAX_* settings as the services: a user can lower (or raise) them."""
    from gossipsim.cli import main as cli

    monkeypatch.setenv("GOSSIPSIM_MAX_VERTICES", "5")
    path = tmp_path / "spec.json"
    path.write_bytes(orjson.dumps(SMALL_SPEC))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "GOSSIPSIM_MAX_VERTICES" in capsys.readouterr().err
