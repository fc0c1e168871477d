"""Where the broker's definitions own the topology (GOSSIPSIM_DECLARE_TOPOLOGY=false, as in
k8s/), the client commands only check it: on a broker without it they say so and exit 1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.support.rabbitmq import URL, require_broker, unique_prefix


@pytest.mark.parametrize(
    "command",
    [["submit", str(REPO / "examples" / "quickstart.yaml")], ["cancel", "some-simulation"]],
)
async def test_a_client_command_on_a_broker_without_the_topology_says_what_is_missing(command):
    await require_broker(URL)
    prefix = unique_prefix()  # nothing of it exists on the broker, and nothing is created
    env = {
        **os.environ,
        "GOSSIPSIM_BROKER_URL": URL,
        "GOSSIPSIM_PREFIX": prefix,
        "GOSSIPSIM_DECLARE_TOPOLOGY": "false",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "gossipsim.cli.main", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    assert f"'{prefix}.commands' does not exist on the broker" in completed.stderr
    assert "GOSSIPSIM_DECLARE_TOPOLOGY" in completed.stderr
