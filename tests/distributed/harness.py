"""A gossipsim deployment as separate processes, for the distributed and fault tests.

:class:`Cluster` starts ``gossipsim serve <service>`` processes against one broker, one name
prefix and one object store, kills and restarts them, runs CLI commands with the same
environment, and reads results back from the store. :class:`Tap` listens to every message
on the deployment's exchanges (an exclusive queue of its own), so a test can wait for an
event or count messages without touching the services' queues.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import orjson

from gossipsim.common.storage.s3_store import S3ObjectStore
from gossipsim.common.storage.store import ObjectNotFound
from tests.support.rabbitmq import EXCHANGE_SUFFIXES, unique_prefix
from tests.support.s3_server import S3Server

CLI = [sys.executable, "-m", "gossipsim.cli.main"]


@dataclass(slots=True)
class Cluster:
    """Service processes sharing a broker URL, a prefix and an S3 store location."""

    workdir: Path
    broker_url: str
    prefix: str
    store_url: str
    s3_endpoint: str
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _counter: int = 0

    @classmethod
    def for_test(cls, workdir: Path, broker_url: str, s3_server: S3Server) -> Cluster:
        """A deployment under a fresh ``gstest-`` prefix, its results in the session bucket."""
        prefix = unique_prefix()
        return cls(
            workdir=workdir,
            broker_url=broker_url,
            prefix=prefix,
            store_url=f"s3://{s3_server.bucket}/{prefix}",
            s3_endpoint=s3_server.endpoint_url,
        )

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GOSSIPSIM_BROKER_URL": self.broker_url,
            "GOSSIPSIM_PREFIX": self.prefix,
            "GOSSIPSIM_STORE": self.store_url,
            "GOSSIPSIM_S3_ENDPOINT": self.s3_endpoint,
            "GOSSIPSIM_LOG_LEVEL": "info",
            "GOSSIPSIM_HEALTH_PORT": "0",  # off: several services share this host
            **self.extra_env,
        }

    def start(self, service: str, *, name: str | None = None, **env: str) -> str:
        """Start ``gossipsim serve <service>``; returns its name (logs in workdir/<name>.log)."""
        self._counter += 1
        name = name or f"{service}-{self._counter}"
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [*CLI, "serve", service],
            env={**self.env, "GOSSIPSIM_RUNNER_NAME": name, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a kill reaches the service, not the test
        )
        log.close()
        return name

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=60)

    def alive(self, name: str) -> bool:
        return self.processes[name].poll() is None

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        assert not dead, f"services exited: {dead}\n{self.logs(*dead)}"

    def logs(self, *names: str) -> str:
        paths = [self.workdir / f"{n}.log" for n in names] or sorted(self.workdir.glob("*.log"))
        parts = []
        for path in paths:
            if path.exists():
                parts.append(f"--- {path.stem} ---\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop_all(self, timeout: float = 60) -> dict[str, int]:
        """SIGTERM every service and wait; returns the exit codes."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        self.processes.clear()
        return codes

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def submit(self, spec: Path) -> str:
        done = self.cli("submit", str(spec))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    @asynccontextmanager
    async def store(self) -> AsyncIterator[S3ObjectStore]:
        async with S3ObjectStore.open(self.store_url, endpoint_url=self.s3_endpoint) as store:
            yield store

    async def wait_for_results(self, simulation_id: str, *, timeout: float = 300) -> dict[str, Any]:
        """Wait until the manifest is stored (the simulation completed) and return it."""
        key = f"simulations/{simulation_id}/manifest.json"
        deadline = time.monotonic() + timeout
        async with self.store() as store:
            while True:
                try:
                    return orjson.loads(await store.get(key))
                except ObjectNotFound:
                    pass
                self.check_alive()
                if time.monotonic() > deadline:
                    raise AssertionError(f"{simulation_id} did not complete\n{self.logs()}")
                await asyncio.sleep(0.5)

    async def summary(self, simulation_id: str) -> list[dict[str, str]]:
        async with self.store() as store:
            text = (await store.get(f"simulations/{simulation_id}/summary.csv")).decode()
        return list(csv.DictReader(io.StringIO(text)))

    async def get_json(self, key: str) -> Any:
        async with self.store() as store:
            return orjson.loads(await store.get(key))

    async def list_keys(self, prefix: str) -> list[str]:
        async with self.store() as store:
            return await store.list(prefix)


@dataclass(frozen=True, slots=True)
class Tapped:
    exchange: str
    routing_key: str
    body: dict[str, Any]
    headers: dict[str, Any]


class Tap:
    """Every message published on a deployment's exchanges, as it is routed."""

    def __init__(self, broker_url: str, prefix: str) -> None:
        self._url = broker_url
        self._prefix = prefix
        self.messages: list[Tapped] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Tap:
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel()
        queue = await channel.declare_queue(
            f"{self._prefix}.tap-{uuid.uuid4().hex[:6]}", exclusive=True, auto_delete=True
        )
        for suffix in EXCHANGE_SUFFIXES:
            exchange = await channel.declare_exchange(
                f"{self._prefix}.{suffix}", aio_pika.ExchangeType.TOPIC, durable=True
            )
            await queue.bind(exchange, "#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            body = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            body = {"raw": message.body[:100].hex()}
        self.messages.append(
            Tapped(
                exchange=message.exchange or "",
                routing_key=message.routing_key or "",
                body=body if isinstance(body, dict) else {"value": body},
                headers=dict(message.headers or {}),
            )
        )
        self._changed.set()

    def of_kind(self, kind: str, exchange_suffix: str | None = None) -> list[Tapped]:
        return [
            m
            for m in self.messages
            if m.body.get("kind") == kind
            and (exchange_suffix is None or m.exchange == f"{self._prefix}.{exchange_suffix}")
        ]

    async def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float = 120, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))


def sigkill_children(pid: int) -> list[int]:
    """SIGKILL the child processes of ``pid`` (a runner's node services); returns their pids."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        os.kill(int(child), signal.SIGKILL)
    return [int(c) for c in children]
