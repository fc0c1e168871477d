"""What launchers give the nodes they start: a launch secret of their own, the runner's traffic
settings and nothing else of the runner's, and in Kubernetes an address to listen on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from kubernetes_asyncio import client

from gossipsim.common.rpc.auth import new_token
from gossipsim.common.runtime.settings import KubernetesSettings, NodeTrafficSettings
from gossipsim.runner.kubernetes_launcher import KubernetesNodeLauncher
from gossipsim.runner.local_launcher import LocalProcessLauncher

SETTINGS = KubernetesSettings.from_env(
    {"GOSSIPSIM_NODE_LAUNCHER": "kubernetes", "GOSSIPSIM_KUBERNETES_NAMESPACE": "gossipsim"}
)


def test_a_local_node_gets_its_secret_and_the_launchers_settings_not_the_runners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runners_secret = new_token()
    monkeypatch.setenv("GOSSIPSIM_NODE_SECRET", runners_secret)  # the runner's, for a pool
    monkeypatch.setenv("GOSSIPSIM_NODE_TLS_CERT", "/runner/cert.pem")
    monkeypatch.setenv("GOSSIPSIM_NODE_MAX_MESSAGE_BYTES", "999")
    launcher = LocalProcessLauncher(traffic=NodeTrafficSettings(max_message_bytes=4096))
    secret = new_token()
    env = launcher._environment(secret)
    assert env["GOSSIPSIM_NODE_SECRET"] == secret
    assert env["GOSSIPSIM_NODE_MAX_MESSAGE_BYTES"] == "4096"
    assert "GOSSIPSIM_NODE_TLS_CERT" not in env
    assert runners_secret not in env.values()


@pytest_asyncio.fixture
async def api() -> AsyncIterator[client.ApiClient]:
    """An API client that is never used to call anything."""
    async with client.ApiClient(client.Configuration()) as api:
        yield api


async def test_node_pods_listen_on_all_interfaces_with_a_secret_per_run(api) -> None:
    traffic = NodeTrafficSettings(max_message_bytes=12345)
    launcher = KubernetesNodeLauncher(api=api, settings=SETTINGS, traffic=traffic)
    first, second = launcher._plan(2, "run-a"), launcher._plan(1, "run-b")
    envs = [
        {item["name"]: item["value"] for item in launcher.manifests.pod(run, index)["spec"]
         ["containers"][0]["env"]}
        for run, index in ((first, 0), (first, 1), (second, 0))
    ]  # fmt: skip
    assert all(env["GOSSIPSIM_NODE_HOST"] == "0.0.0.0" for env in envs)
    assert all(env["GOSSIPSIM_NODE_MAX_MESSAGE_BYTES"] == "12345" for env in envs)
    secrets = [env["GOSSIPSIM_NODE_SECRET"] for env in envs]
    assert secrets[0] == secrets[1] == first.secret != secrets[2] == second.secret
    assert len(first.secret) >= 32 and first.secret not in repr(first)
    first.addresses = ["10.0.0.1:50051", "10.0.0.2:50051"]
    launcher._runs[first.label] = first
    assert launcher.launch_secret("10.0.0.2:50051") == first.secret
    with pytest.raises(KeyError):
        launcher.launch_secret("10.0.0.9:50051")


async def test_the_kubernetes_launcher_refuses_tls_it_cannot_give_its_pods(
    api, tmp_path: Path
) -> None:
    files = {name: str(tmp_path / f"{name}.pem") for name in ("tls_cert", "tls_key", "tls_ca")}
    with pytest.raises(ValueError, match="GOSSIPSIM_NODE_TLS_CERT"):
        KubernetesNodeLauncher(api=api, settings=SETTINGS, traffic=NodeTrafficSettings(**files))


def test_tls_needs_all_three_files_and_says_which_are_missing() -> None:
    with pytest.raises(ValueError, match="GOSSIPSIM_NODE_TLS_KEY, GOSSIPSIM_NODE_TLS_CA not set"):
        NodeTrafficSettings(tls_cert="/cert.pem")
    with pytest.raises(ValueError, match="GOSSIPSIM_NODE_MAX_MESSAGE_BYTES"):
        NodeTrafficSettings(max_message_bytes=2**31)
