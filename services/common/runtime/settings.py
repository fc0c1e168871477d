"""Settings of the long-running services, from environment variables (documented in README).

Built once in a composition root and passed down; service code never reads the environment.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

from gossipsim.common.graphs.limits import GraphLimits


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"{name} must be a port number (0 turns it off), got {raw!r}")
    return int(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSettings:
    broker_url: str
    prefix: str
    store: str  # a directory, or s3://bucket/prefix
    s3_endpoint: str | None
    delivery_limit: int
    max_attempts: int
    runner_name: str
    log_level: str
    limits: GraphLimits
    call_timeout: float  # runner: seconds one node call may take (a one-shard run is one call)
    drain_seconds: float  # on SIGTERM: how long in-flight work may take to finish
    run_ack_after: float  # runner: ack a run's command after this long, then heartbeat
    heartbeat_seconds: float  # runner: heartbeat interval of such a long run
    lease_timeout: float  # scheduler: restart a long run after this long without heartbeat
    health_port: int  # HTTP /healthz and /readyz (0: off)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceSettings:
        return cls(
            broker_url=env.get("GOSSIPSIM_BROKER_URL", "amqp://guest:guest@localhost:5672/"),
            prefix=env.get("GOSSIPSIM_PREFIX", "gossipsim"),
            store=env.get("GOSSIPSIM_STORE", "results"),
            s3_endpoint=env.get("GOSSIPSIM_S3_ENDPOINT") or None,
            delivery_limit=_positive_int(env, "GOSSIPSIM_DELIVERY_LIMIT", 5),
            max_attempts=_positive_int(env, "GOSSIPSIM_MAX_ATTEMPTS", 3),
            runner_name=env.get("GOSSIPSIM_RUNNER_NAME", socket.gethostname()),
            log_level=env.get("GOSSIPSIM_LOG_LEVEL", "info"),
            limits=GraphLimits.from_env(env),
            call_timeout=_positive_float(env, "GOSSIPSIM_CALL_TIMEOUT_SECONDS", 3600.0),
            drain_seconds=_positive_float(env, "GOSSIPSIM_DRAIN_SECONDS", 300.0),
            run_ack_after=_positive_float(env, "GOSSIPSIM_RUN_ACK_AFTER_SECONDS", 900.0),
            heartbeat_seconds=_positive_float(env, "GOSSIPSIM_HEARTBEAT_SECONDS", 30.0),
            lease_timeout=_positive_float(env, "GOSSIPSIM_LEASE_TIMEOUT_SECONDS", 180.0),
            health_port=_port(env, "GOSSIPSIM_HEALTH_PORT", 8080),
        )
