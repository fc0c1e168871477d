"""``gossipsim serve`` stops with a message, not a traceback, when it cannot start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.rabbitmq import URL, delete_prefixed, require_broker, unique_prefix


def _serve(service: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gossipsim.cli.main", "serve", service]
    return subprocess.run(
        command, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


async def test_a_health_port_in_use_stops_the_service_naming_the_setting(
    tmp_path: Path,
) -> None:
    await require_broker()
    prefix = unique_prefix()
    env = {
        "GOSSIPSIM_BROKER_URL": URL,
        "GOSSIPSIM_PREFIX": prefix,
        "GOSSIPSIM_STORE": str(tmp_path / "store"),
    }
    try:
        with socket.socket() as taken:
            taken.bind(("0.0.0.0", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = _serve("collector", {**env, "GOSSIPSIM_HEALTH_PORT": str(port)}, tmp_path)
    finally:
        await delete_prefixed(prefix)
    assert done.returncode == 1
    assert f"GOSSIPSIM_HEALTH_PORT={port}" in done.stderr
    assert "in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_invalid_setting_exits_2(tmp_path: Path) -> None:
    done = _serve("collector", {"GOSSIPSIM_HEALTH_PORT": "eighty"}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("invalid setting:")
    assert "Traceback" not in done.stderr
