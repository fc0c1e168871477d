"""Nothing lost is reported as done: a run whose telemetry never reached the collector (it was
dead-lettered on the way) is a failed run in the manifest, the status and `gossipsim run`'s
exit code, although its runner reported it completed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gossipsim.cli import main as cli
from gossipsim.collector.service import CollectorService
from gossipsim.common.contracts.status_document import read_status, status_key
from gossipsim.common.messaging.messages import RunCompleted, RunRound, RunStart, SimulationSubmit
from tests.embedded.test_forged_events import RUN_IDS, SPEC, Deployment

LOST = RUN_IDS[1]


class LosingTelemetry(Deployment):
    """The runners of the forged-events tests, whose telemetry of one run never arrives."""

    async def answer(self, start: RunStart) -> None:
        ids = {"simulation_id": start.simulation_id, "run_id": start.run_id}
        if start.run_id != LOST:
            await self.send(
                RunRound(**ids, attempt=start.attempt, first_round=0, rounds=[{"mean": 1.0}] * 2)
            )
        await self.send(
            RunCompleted(**ids, attempt=start.attempt, rounds=1, converged=True, plan=start.plan)
        )


async def test_a_completed_run_whose_telemetry_was_lost_is_failed_everywhere(tmp_path):
    deployment = LosingTelemetry(tmp_path, stored=True)
    await deployment.start()
    try:
        await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="lossy"))
        await deployment.completed("lossy")
        manifest = await deployment.json("simulations/lossy/manifest.json")
        result = await deployment.json(f"simulations/lossy/runs/{LOST}/result.json")
        status = read_status(status_key("lossy"), await deployment.store.get(status_key("lossy")))
    finally:
        await deployment.close()
    assert manifest["runs_total"] == 3
    assert manifest["runs_succeeded"] == 2 and manifest["runs_failed"] == 1
    assert result["status"] == "failed" and "results lost" in result["error"]
    assert status.counts["failed"] == 1 and status.counts["completed"] == 2


def test_gossipsim_run_exits_1_when_the_manifest_counts_a_lost_run(tmp_path, monkeypatch, capsys):
    """The scheduler saw every run complete; the collector could not store one: exit 1."""
    original = CollectorService._round

    async def drop_one(self: CollectorService, message: RunRound) -> None:
        if message.run_id.endswith(".r1"):
            raise RuntimeError("this telemetry cannot be stored")  # requeued, then dead-lettered
        await original(self, message)

    monkeypatch.setattr(CollectorService, "_round", drop_one)
    spec = tmp_path / "spec.json"
    spec.write_bytes(
        orjson.dumps(
            {
                "name": "lossy",
                "graphs": [{"name": "c8", "generator": "cycle_graph", "params": {"n": 8}}],
                "algorithms": ["default"],
                "repetitions": 3,
            }
        )
    )
    code = cli.main(["run", str(spec), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "3 runs, 1 failed" in captured.out
    (lost,) = [line for line in captured.err.splitlines() if "run(s) finished" in line]
    assert (
        lost == "  1 run(s) finished but their results were lost before they could be stored:"
        " counted as failed"
    )  # no queue to have dead-lettered them in one process
    (simulation,) = Path(tmp_path / "out" / "simulations").iterdir()
    manifest = orjson.loads((simulation / "manifest.json").read_bytes())
    assert manifest["runs_failed"] == 1


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch):
    """The completion's redeliveries wait for telemetry a second each; a tenth is enough here."""
    monkeypatch.setattr("gossipsim.collector.service.IncompleteTelemetry.__init__", _quick_init)


def _quick_init(self, message: str, *, defer: float = 0.1) -> None:
    from gossipsim.common.errors import Retry

    Retry.__init__(self, message, defer=0.1)
