"""Local node processes get only what they need of the runner's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossipsim.runner.local_launcher import LocalProcessLauncher, node_environment

CANARY = "canary-5b1d-must-not-reach-nodes"


def test_node_environment_keeps_what_a_node_needs_and_drops_secrets() -> None:
    parent = {
        "PATH": "/usr/bin",
        "VIRTUAL_ENV": "/venv",
        "PYTHONPATH": "/src",
        "NUMBA_CACHE_DIR": "/tmp/numba",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "GOSSIPSIM_NODE_PEER_TIMEOUT": "30",
        "GOSSIPSIM_BROKER_URL": f"amqp://user:{CANARY}@broker/",
        "AWS_SECRET_ACCESS_KEY": CANARY,
        "AWS_ACCESS_KEY_ID": "key",
        "GOSSIPSIM_STORE": "s3://bucket",
        "SOME_TOKEN": CANARY,
    }
    assert node_environment(parent) == {
        "PATH": "/usr/bin",
        "VIRTUAL_ENV": "/venv",
        "PYTHONPATH": "/src",
        "NUMBA_CACHE_DIR": "/tmp/numba",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "GOSSIPSIM_NODE_PEER_TIMEOUT": "30",
    }


@pytest.mark.timeout(60)
async def test_a_started_node_process_holds_none_of_the_runners_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    monkeypatch.setenv("GOSSIPSIM_BROKER_URL", f"amqp://user:{CANARY}@localhost/")
    async with LocalProcessLauncher() as launcher:
        (address,) = await launcher.acquire(1, run_id="env-check")
        environ = Path(f"/proc/{launcher.process(address).pid}/environ").read_bytes()
        await launcher.release([address], healthy=True)
    assert CANARY.encode() not in environ
    assert b"PATH=" in environ
