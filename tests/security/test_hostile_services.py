"""Hostile specs and forged messages sent to the services over the real RabbitMQ.

One deployment (scheduler, collector and runner as processes, results in S3) serves the whole
module, with a canary secret in every service's environment and one directory of graph files
allowed (``GOSSIPSIM_GRAPH_ROOTS``). Everything is sent as any AMQP client could send it:
simulation.submit and run.start straight to the commands exchange, events to the events
exchange, bodies that are not what they claim. Each case asserts its outcome (the rejection
and the field it names, the dead letter and its reason, files that did not change) and the
last test asserts the canary is in no log line, message, stored object or CLI output.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import psutil
import pytest
from grpclib import GRPCError
from grpclib.const import Status

from gossipsim.common.rpc import node_pb2 as pb
from gossipsim.common.rpc.auth import SECRET_HEADER, TOKEN_HEADER, new_token
from tests.distributed.harness import Cluster, Tap
from tests.node.clients import configure_request, raw_stub
from tests.security.conftest import CANARY, assert_no_canary
from tests.support.forged import run_start_body
from tests.support.s3_server import S3Server

pytestmark = pytest.mark.timeout(300)

REASON = "x-gossipsim-reason"
MAX_FILE_BYTES = 2 * 1024 * 1024  # the deployment's cap on one graph file, decompressed
RING = "".join(f"{i} {(i + 1) % 12}\n" for i in range(12))  # a valid 12-vertex edge list


# --- the deployment --------------------------------------------------------------------------


class RawTap(Tap):
    """A :class:`Tap` that also keeps every message's raw body and headers, for the canary
    check and for finding messages by a marker in bodies that are not JSON."""

    def __init__(self, broker_url: str, prefix: str) -> None:
        super().__init__(broker_url, prefix)
        self.raw: list[tuple[str, str, bytes, dict[str, Any]]] = []

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        self.raw.append((message.exchange or "", message.routing_key or "", message.body, headers))
        await super()._on_message(message)

    def dead_letters_with(self, marker: bytes) -> list[tuple[bytes, dict[str, Any]]]:
        return [
            (body, headers)
            for exchange, _, body, headers in self.raw
            if exchange.endswith(".dead-letter") and marker in body
        ]


@dataclass
class Deployment:
    cluster: Cluster
    tap: RawTap
    root: Path  # the one graph root
    outside: Path  # a directory beside it, outside the root
    secrets: tuple[str, ...]  # the canary, and the real S3 secret the services hold
    services: dict[str, str] = field(default_factory=dict)  # role -> process name

    async def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        exchange: str = "commands",
        content_type: str = "application/json",
    ) -> None:
        """Publish as any AMQP client would."""
        connection = await aio_pika.connect(self.cluster.broker_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            target = await channel.get_exchange(f"{self.cluster.prefix}.{exchange}")
            await target.publish(
                aio_pika.Message(
                    body,
                    content_type=content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=routing_key,
            )

    async def submit(self, simulation_id: str, spec: dict[str, Any], graphs_dir: str = "") -> None:
        body = {
            "kind": "simulation.submit",
            "version": 1,
            "simulation_id": simulation_id,
            "spec": spec,
            "graphs_dir": graphs_dir,
        }
        await self.publish("simulation.submit", orjson.dumps(body))

    def outcome(self, simulation_id: str) -> str | None:
        """simulation.rejected or simulation.completed once one is seen for the id."""
        for kind in ("simulation.rejected", "simulation.completed"):
            if any(m.body.get("simulation_id") == simulation_id for m in self.tap.of_kind(kind)):
                return kind
        return None

    def events_of(self, simulation_id: str, kind: str) -> list[dict[str, Any]]:
        return [
            m.body for m in self.tap.of_kind(kind) if m.body.get("simulation_id") == simulation_id
        ]

    async def hashes(self, prefix: str) -> dict[str, str]:
        """SHA-256 of every object under ``prefix`` in the deployment's store."""
        async with self.cluster.store() as store:
            return {
                key: hashlib.sha256(await store.get(key)).hexdigest()
                for key in await store.list(prefix)
            }

    def log_text(self) -> str:
        """Every service's whole log (Cluster.logs keeps only their tails)."""
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.cluster.workdir.glob("*.log"))
        )


async def wait_for_consumers(cluster: Cluster, *queues: str, timeout: float = 60) -> None:
    """Until each queue of the deployment has a consumer: the services are ready."""
    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(cluster.broker_url)
    async with connection:
        for suffix in queues:
            while True:
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(f"{cluster.prefix}.{suffix}", passive=True)
                    if queue.declaration_result.consumer_count:
                        break
                except aio_pika.exceptions.ChannelClosed:
                    pass  # not declared yet
                finally:
                    if not channel.is_closed:
                        await channel.close()
                cluster.check_alive()
                assert time.monotonic() < deadline, f"no consumer on {suffix}\n{cluster.logs()}"
                await asyncio.sleep(0.2)


def write_graph_files(root: Path, outside: Path) -> None:
    """The root's files (valid, broken and bait) and a canary file beside it."""
    (root / "ring.edgelist").write_text(RING)
    (outside / "secret.edgelist").write_text(f"0 1\n1 {CANARY}\n{CANARY} 0\n")
    (root.parent / "outside.edgelist").write_text(f"0 1\n1 {CANARY}\n{CANARY} 0\n")
    (root / "link.edgelist").symlink_to(outside / "secret.edgelist")
    (root / "canary-line.edgelist").write_text(f"0 1\n{CANARY}\n1 2\n")
    (root / "canary-isolated.adjlist").write_text(f"0 1\n1 2\n{CANARY}\n")
    (outside / "graph.yaml").write_text(
        "apiVersion: gossip.io/v1\nkind: Graph\nmetadata:\n  name: g\n  labels: {series: x}\n"
        f'spec:\n  adjacencyList: "0 1\\n1 0"\n  valueList: "1,{CANARY}"\n'
    )
    (root / "resources").mkdir()
    (root / "resources" / "graph.yaml").symlink_to(outside / "graph.yaml")
    with gzip.open(root / "bomb.edgelist.gz", "wb", compresslevel=9) as stream:
        for _ in range(4 * MAX_FILE_BYTES // (1024 * 1024)):  # 4 times the cap, inflated
            stream.write(b"1 2\n" * 262_144)


@pytest.fixture(scope="module")
async def deployment(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server
) -> AsyncIterator[Deployment]:
    from tests.support.rabbitmq import URL, delete_prefixed, require_broker

    await require_broker(URL)
    base = tmp_path_factory.mktemp("hostile-services")
    root, outside, workdir = base / "graphs", base / "outside", base / "logs"
    for directory in (root, outside, workdir):
        directory.mkdir()
    write_graph_files(root, outside)
    s3_secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    cluster = Cluster.for_test(workdir, URL, s3_server)
    cluster.extra_env = {
        "GOSSIPSIM_TEST_CANARY": CANARY,  # the S3 secret is in use: it is the second canary
        "GOSSIPSIM_GRAPH_ROOTS": str(root),
        "GOSSIPSIM_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
    }
    secrets = (CANARY, s3_secret) if len(s3_secret) >= 16 else (CANARY,)
    try:
        services = {role: cluster.start(role) for role in ("scheduler", "collector", "runner")}
        async with RawTap(cluster.broker_url, cluster.prefix) as tap:
            await wait_for_consumers(cluster, "scheduler", "collector", "runs")
            yield Deployment(cluster, tap, root, outside, secrets, services)
    finally:
        cluster.stop_all()
        await delete_prefixed(cluster.prefix, URL)


# --- 1. specs over AMQP ----------------------------------------------------------------------


def spec_with(source: dict[str, Any], **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "hostile",
        "graphs": [source],
        "algorithms": ["default"],
        "repetitions": 1,
        "max_rounds": 50,
    }
    spec.update(changes)
    return spec


CYCLE = {"generator": "cycle_graph", "params": {"n": 12}}
SEED_SIMULATION = {
    "apiVersion": "gossip.io/v1",
    "kind": "Simulation",
    "metadata": {"name": "seed"},
    "spec": {"graphSelector": {"matchLabels": {"series": "x"}}, "algorithm": "default"},
}


@dataclass(frozen=True)
class SpecCase:
    """A spec (built from the deployment's root and outside directories), the graphs_dir it
    is submitted with, the field its rejection must name and words its reason must hold."""

    spec: Callable[[Path, Path], dict[str, Any]]
    field: str
    words: tuple[str, ...]
    graphs_dir: Callable[[Path, Path], str] = lambda root, outside: ""


OUTSIDE = ("outside the graph roots", "GOSSIPSIM_GRAPH_ROOTS")
TOO_LARGE = ("over the limit", "GOSSIPSIM_MAX_")


def file_case(path: Callable[[Path], str], **source: Any) -> SpecCase:
    return SpecCase(lambda r, o: spec_with({"file": path(r), **source}), "graphs[0].file", OUTSIDE)


SPEC_CASES: dict[str, SpecCase] = {
    # --- host files, and files that lead out of the root --------------------------------------
    "proc-environ": file_case(lambda r: "/proc/self/environ", format="edgelist"),
    "etc-passwd": file_case(lambda r: "/etc/passwd", format="edgelist"),
    "dotdot-out-of-root": file_case(lambda r: f"{r}/../outside.edgelist"),
    "relative-escape": file_case(lambda r: "../../../../../../etc/passwd"),
    "symlink-out-of-root": file_case(lambda r: f"{r}/link.edgelist"),
    "resources-slash": SpecCase(
        lambda r, o: spec_with({"resources": "/"}), "graphs[0].resources", OUTSIDE
    ),
    "resources-symlink-out": SpecCase(
        lambda r, o: spec_with({"resources": f"{r}/resources"}), "graphs[0].resources", OUTSIDE
    ),
    "resource-passwd": SpecCase(
        lambda r, o: spec_with({"resource": "/etc/passwd"}), "graphs[0].resource", OUTSIDE
    ),
    "graphs-dir-etc": SpecCase(
        lambda r, o: SEED_SIMULATION, "graphs_dir", OUTSIDE, lambda r, o: "/etc"
    ),
    "graphs-dir-dotdot": SpecCase(
        lambda r, o: SEED_SIMULATION, "graphs_dir", OUTSIDE, lambda r, o: f"{r}/../outside"
    ),
    # --- files inside the root whose content must not come back ---------------------------------
    "canary-bad-line": SpecCase(
        lambda r, o: spec_with({"file": f"{r}/canary-line.edgelist"}),
        "graphs[0].file[2]",
        ("line 2 of", "canary-line.edgelist", "expected two vertex labels"),
    ),
    "canary-isolated-labels": SpecCase(
        lambda r, o: spec_with({"file": f"{r}/canary-isolated.adjlist"}),
        "graphs[0]",
        ("isolated vertex (number 3)",),
    ),
    "gzip-bomb-in-root": SpecCase(
        lambda r, o: spec_with({"file": f"{r}/bomb.edgelist.gz"}),
        "graphs[0].file",
        ("larger than 2,097,152 bytes once decompressed", "GOSSIPSIM_MAX_FILE_BYTES"),
    ),
    # --- graphs and settings that cost ------------------------------------------------------------
    "kneser-60-20": SpecCase(
        lambda r, o: spec_with({"generator": "kneser_graph", "params": {"n": 60, "k": 20}}),
        "graphs[0].params",
        TOO_LARGE,
    ),
    "k-out-10m": SpecCase(
        lambda r, o: spec_with(
            {"generator": "random_k_out_graph", "params": {"n": 10_000_000, "k": 10}, "seed": 1}
        ),
        "graphs[0].params",
        TOO_LARGE,
    ),
    "os-system-generator": SpecCase(
        lambda r, o: spec_with({"generator": "os.system", "params": {"command": "id"}}),
        "graphs[0].generator",
        ("unknown generator",),
    ),
    "shards-1024": SpecCase(
        lambda r, o: spec_with({"generator": "cycle_graph", "params": {"n": 5000}}, shards=1024),
        "shards",
        ("GOSSIPSIM_MAX_SHARDS",),
    ),
    "history-vertices-per-round": SpecCase(
        lambda r, o: spec_with(
            {"generator": "cycle_graph", "params": {"n": 300_000}},
            history={"every": 1, "vertices": 300_000},
            max_rounds=1000,
        ),
        "history",
        ("sampled per round", "200,000"),
    ),
    "history-samples-over-cap": SpecCase(
        lambda r, o: spec_with(
            {"generator": "cycle_graph", "params": {"n": 100_000}},
            history={"every": 1, "vertices": 100_000},
            max_rounds=1000,
        ),
        "history",
        ("10,000,000",),
    ),
    "repetitions-1e9": SpecCase(
        lambda r, o: spec_with(CYCLE, repetitions=10**9), "repetitions", ("1..10,000",)
    ),
    "one-vertex": SpecCase(lambda r, o: spec_with({"adjacency": ["0"]}), "graphs[0]", ("vertex",)),
    # --- objects outside graphs/ or not there ---------------------------------------------------
    "object-dotdot-scheduler": SpecCase(
        lambda r, o: spec_with({"object": "../scheduler/x"}),
        "graphs[0].object",
        ("under graphs/", "no '..'"),
    ),
    "object-graphs-dotdot": SpecCase(
        lambda r, o: spec_with({"object": "graphs/../scheduler/simulations/x.json"}),
        "graphs[0].object",
        ("under graphs/", "no '..'"),
    ),
    "object-absolute": SpecCase(
        lambda r, o: spec_with({"object": "/etc/passwd"}), "graphs[0].object", ("under graphs/",)
    ),
    "object-missing": SpecCase(
        lambda r, o: spec_with({"object": "graphs/none.edgelist"}),
        "graphs[0].object",
        ("graphs/none.edgelist",),
    ),
}

VALID_CASES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "valid-root-file": lambda r: spec_with({"file": f"{r}/ring.edgelist"}, repetitions=2),
    "valid-object": lambda r: spec_with({"object": "graphs/ring.edgelist"}, repetitions=2),
}


def sim_id(case: str) -> str:
    return f"h-{case}"


KNOWN_IDS = {sim_id(name) for name in [*SPEC_CASES, *VALID_CASES, "sentinel"]}


@pytest.fixture(scope="module")
async def spec_outcomes(deployment: Deployment) -> Deployment:
    """Every spec case submitted at once; returns when each is rejected or completed."""
    async with deployment.cluster.store() as store:
        await store.put("graphs/ring.edgelist", RING.encode(), content_type="text/plain")
    root, outside = deployment.root, deployment.outside
    for name, case in SPEC_CASES.items():
        await deployment.submit(
            sim_id(name), case.spec(root, outside), case.graphs_dir(root, outside)
        )
    for name, spec in VALID_CASES.items():
        await deployment.submit(sim_id(name), spec(root))
    names = [*SPEC_CASES, *VALID_CASES]
    try:
        await deployment.tap.wait_until(
            lambda: all(deployment.outcome(sim_id(n)) for n in names),
            timeout=90,
            what="an answer to every submitted spec",
        )
    except AssertionError:
        waiting = [n for n in names if deployment.outcome(sim_id(n)) is None]
        seen = [
            (m.routing_key, m.body)
            for m in deployment.tap.messages
            if m.body.get("simulation_id") in {sim_id(n) for n in waiting}
        ]
        raise AssertionError(
            f"no answer to {waiting}: {seen}\n{deployment.cluster.logs()}"
        ) from None
    for name in VALID_CASES:
        await deployment.cluster.wait_for_results(sim_id(name), timeout=60)
    return deployment


@pytest.mark.parametrize("name", list(SPEC_CASES))
async def test_hostile_spec_over_amqp_is_rejected_naming_the_field(spec_outcomes, name):
    deployment, simulation_id = spec_outcomes, sim_id(name)
    (rejected,) = deployment.events_of(simulation_id, "simulation.rejected")
    assert (rejected["field"], name) == (SPEC_CASES[name].field, name), rejected["reason"]
    for words in SPEC_CASES[name].words:
        assert words in rejected["reason"], rejected["reason"]
    assert not deployment.events_of(simulation_id, "simulation.accepted")
    assert not deployment.events_of(simulation_id, "run.start")
    assert await deployment.cluster.list_keys(f"simulations/{simulation_id}/") == []
    status = await deployment.cluster.get_json(f"scheduler/simulations/{simulation_id}.json")
    assert status["phase"] == "rejected"


@pytest.mark.parametrize("name", list(VALID_CASES))
async def test_valid_spec_from_the_root_or_the_store_completes(spec_outcomes, name):
    manifest = await spec_outcomes.cluster.wait_for_results(sim_id(name), timeout=10)
    assert manifest["runs_total"] == 2
    assert manifest["runs_succeeded"] == 2 and manifest["runs_failed"] == 0
    rows = await spec_outcomes.cluster.summary(sim_id(name))
    assert [row["status"] for row in rows] == ["completed", "completed"]
    assert {row["graph_nodes"] for row in rows} == {"12"}, rows


# --- 2. forged and malformed messages --------------------------------------------------------


def submit_body(marker: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "simulation.submit",
        "version": 1,
        "message_id": marker,
        "spec": spec_with(CYCLE),
    }
    body.update(fields)
    return body


@dataclass(frozen=True)
class Malformed:
    """A message body sent with a routing key (to the commands exchange unless ``exchange``),
    and the words its dead letter's reason must hold. The body holds ``marker`` somewhere."""

    body: Callable[[str], bytes]
    words: tuple[str, ...]
    routing_key: str = "simulation.submit"
    exchange: str = "commands"
    content_type: str = "application/json"
    service: str = "scheduler"  # the consumer that must stay alive
    copies: int = 1  # dead letters: one per queue the routing key reaches


def json_body(**fields: Any) -> Callable[[str], bytes]:
    return lambda marker: orjson.dumps(submit_body(marker, **fields))


def text_body(template: str) -> Callable[[str], bytes]:
    """A body written by hand (orjson would refuse it): ``{marker}`` and ``{spec}`` filled."""
    return lambda marker: (
        template.replace("{marker}", marker)
        .replace("{spec}", orjson.dumps(spec_with(CYCLE)).decode())
        .encode()
    )


def deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def run_event(kind: str, marker: str, **fields: Any) -> bytes:
    body = {"kind": kind, "version": 1, "message_id": marker, "attempt": 1, **fields}
    return orjson.dumps(body)


MALFORMED: dict[str, Malformed] = {
    "id-with-slash": Malformed(json_body(simulation_id="a/b"), ("undecodable", "simulation_id")),
    "id-dotdot": Malformed(json_body(simulation_id="../../.."), ("undecodable", "simulation_id")),
    "id-uppercase-long": Malformed(
        json_body(simulation_id="X" * 300), ("undecodable", "simulation_id")
    ),
    "duplicate-keys": Malformed(
        text_body(
            '{"kind": "simulation.submit", "version": 1, "message_id": "{marker}",'
            ' "spec": {spec}, "spec": {"name": "other"}}'
        ),
        ("undecodable", "twice"),
    ),
    "int-over-64-bits": Malformed(
        json_body(spec=spec_with(CYCLE) | {"seed": "SEED"}),  # replaced below
        ("undecodable", "64 bits"),
    ),
    "nan-literal": Malformed(
        text_body(
            '{"kind": "simulation.submit", "version": 1, "message_id": "{marker}",'
            ' "spec": {"name": "n", "epsilon": NaN}}'
        ),
        ("undecodable",),
    ),
    "infinity-literal": Malformed(
        text_body(
            '{"kind": "simulation.submit", "version": 1, "message_id": "{marker}",'
            ' "spec": {"name": "n", "epsilon": Infinity}}'
        ),
        ("undecodable",),
    ),
    "nested-100": Malformed(json_body(spec={"name": "deep", "x": deep(100)}), ("nested",)),
    "over-8-MiB": Malformed(
        json_body(spec={"name": "big", "padding": "x" * (8 * 1024 * 1024 + 10)}),
        ("exceeds", "8388608"),
    ),
    "content-type-text": Malformed(
        json_body(), ("content type", "text/plain"), content_type="text/plain"
    ),
    "not-json": Malformed(lambda marker: f"not json {marker} \x00\xff".encode(), ("not JSON",)),
    "json-array": Malformed(lambda marker: orjson.dumps([marker]), ("JSON object",)),
    "unknown-kind": Malformed(
        json_body(kind="simulation.explode"), ("unknown message kind",), "simulation.explode"
    ),
    "unknown-field": Malformed(json_body(shell="rm -rf /"), ("unknown field", "shell")),
    "wrong-version": Malformed(json_body(version=99), ("unsupported version",)),
    "spec-not-an-object": Malformed(json_body(spec=["x"]), ("spec", "object")),
    "kind-not-its-routing-key": Malformed(
        lambda marker: forged_start("x.r0", CYCLE, message_id=marker),  # valid, as a run.start
        ("run.start message published with routing key 'simulation.submit'",),
    ),
    # --- to the runner's queue and to the collector's ----------------------------------------
    "run-start-bad-id": Malformed(
        lambda marker: run_event("run.start", marker, simulation_id="../x", run_id="r", plan={}),
        ("undecodable", "simulation_id"),
        routing_key="run.start",
        service="runner",
    ),
    "run-round-bad-run-id": Malformed(
        lambda marker: run_event(
            "run.round", marker, simulation_id="x", run_id="../../r", first_round=0, rounds=[]
        ),
        ("undecodable", "run_id"),
        routing_key="run.round",
        exchange="events",
        service="collector",
    ),
    "run-completed-huge-int": Malformed(
        lambda marker: run_event(
            "run.completed",
            marker,
            simulation_id="x",
            run_id="r",
            rounds="ROUNDS",
            converged=True,
        ),
        ("undecodable", "64 bits"),
        routing_key="run.completed",
        exchange="events",
        service="collector",
        copies=2,  # the scheduler's queue and the collector's
    ),
}

HUGE_INT = str(2**70).encode()


def malformed_body(name: str) -> bytes:
    body = MALFORMED[name].body(f"mal-{name}")
    # orjson cannot write an integer over 64 bits: it is put in by hand
    return body.replace(b'"SEED"', HUGE_INT).replace(b'"ROUNDS"', HUGE_INT)


@pytest.fixture(scope="module")
async def malformed_outcomes(deployment: Deployment) -> Deployment:
    for name, case in MALFORMED.items():
        await deployment.publish(
            case.routing_key,
            malformed_body(name),
            exchange=case.exchange,
            content_type=case.content_type,
        )
    await deployment.tap.wait_until(
        lambda: all(deployment.tap.dead_letters_with(f"mal-{n}".encode()) for n in MALFORMED),
        timeout=60,
        what="a dead letter of every malformed message",
    )
    await asyncio.sleep(1.0)  # time for a second copy, were there a crash loop
    return deployment


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_message_is_dead_lettered_once_with_its_reason(malformed_outcomes, name):
    deployment, case = malformed_outcomes, MALFORMED[name]
    dead = deployment.tap.dead_letters_with(f"mal-{name}".encode())
    assert len(dead) == case.copies
    for body, headers in dead:
        reason = str(headers[REASON])
        for words in case.words:
            assert words in reason, reason
        assert body == malformed_body(name)  # kept as it came, to be inspected and replayed
    assert deployment.cluster.alive(deployment.services[case.service])
    answered = {
        m.body["simulation_id"]
        for kind in ("simulation.accepted", "simulation.rejected")
        for m in deployment.tap.of_kind(kind)
    }
    assert answered <= KNOWN_IDS, answered - KNOWN_IDS  # no malformed submission was taken


# --- forged run.start: the runner checks it as the scheduler would ---------------------------

ROOTS = "outside the graph roots the operator allowed (GOSSIPSIM_GRAPH_ROOTS)"

# A forged run.start's graph source, and words the "impossible run" reason must hold.
FORGED_STARTS: dict[str, tuple[Callable[[Path], dict[str, Any]], str]] = {
    "etc-passwd": (lambda root: {"file": "/etc/passwd", "format": "edgelist"}, ROOTS),
    "proc-environ": (lambda root: {"file": "/proc/self/environ", "format": "edgelist"}, ROOTS),
    "dotdot-out-of-root": (lambda root: {"file": f"{root}/../outside.edgelist"}, ROOTS),
    "symlink-out-of-root": (lambda root: {"file": f"{root}/link.edgelist"}, ROOTS),
    "resource-passwd": (lambda root: {"resource": "/etc/passwd"}, ROOTS),
    "resource-symlink-out": (lambda root: {"resource": f"{root}/resources/graph.yaml"}, ROOTS),
    "kneser-60-20": (
        lambda root: {"generator": "kneser_graph", "params": {"n": 60, "k": 20}},
        "over the limit",
    ),
    "gzip-bomb-in-root": (
        lambda root: {"file": f"{root}/bomb.edgelist.gz"},
        "GOSSIPSIM_MAX_FILE_BYTES",
    ),
}


def forged_start(run_id: str, source: dict[str, Any], **fields: Any) -> bytes:
    return run_start_body("forged", run_id, source, **fields)


@pytest.fixture(scope="module")
async def forged_starts(deployment: Deployment) -> Deployment:
    for name, (source, _) in FORGED_STARTS.items():
        await deployment.publish(
            "run.start", forged_start(f"forged.{name}", source(deployment.root))
        )

    def dead_run_ids() -> set[str]:
        return {m.body.get("run_id") for m in deployment.tap.of_kind("run.start", "dead-letter")}

    await deployment.tap.wait_until(
        lambda: {f"forged.{n}" for n in FORGED_STARTS} <= dead_run_ids(),
        timeout=60,
        what="the forged run.start commands dead-lettered",
    )
    await asyncio.sleep(0.5)
    return deployment


@pytest.mark.parametrize("name", list(FORGED_STARTS))
async def test_forged_run_start_is_dead_lettered_as_impossible_before_anything_is_read(
    forged_starts, name
):
    deployment, run_id = forged_starts, f"forged.{name}"
    dead = [
        m for m in deployment.tap.of_kind("run.start", "dead-letter") if m.body["run_id"] == run_id
    ]
    assert len(dead) == 1
    reason = dead[0].headers[REASON]
    assert reason.startswith("impossible run: "), reason
    assert FORGED_STARTS[name][1] in reason, reason
    for kind in ("run.started", "run.round", "run.completed", "run.failed"):
        assert not [m for m in deployment.tap.of_kind(kind) if m.body.get("run_id") == run_id]
    assert not await deployment.cluster.list_keys("simulations/forged/")
    assert deployment.cluster.alive(deployment.services["runner"])


# --- forged events against a completed simulation ---------------------------------------------

TARGET = sim_id("valid-root-file")  # completed by spec_outcomes
SENTINEL = "h-sentinel"


def planned_run(deployment: Deployment) -> str:
    return str(deployment.events_of(TARGET, "run.start")[0]["run_id"])


FORGED_EVENTS: dict[str, Callable[[str], list[tuple[str, dict[str, Any]]]]] = {
    "round-and-completion-of-a-planned-run": lambda run: [
        ("run.round", {"run_id": run, "attempt": 1, "first_round": 0, "rounds": [{"mean": 1e9}]}),
        ("run.completed", {"run_id": run, "attempt": 1, "rounds": 0, "converged": True}),
    ],
    "round-and-completion-of-an-unplanned-run": lambda run: [
        ("run.round", {"run_id": "forged.r9", "first_round": 0, "rounds": [{"mean": 1e9}]}),
        ("run.completed", {"run_id": "forged.r9", "rounds": 0, "converged": True}),
    ],
    "failure-of-a-planned-run": lambda run: [
        ("run.failed", {"run_id": run, "attempt": 1, "error": "forged", "retryable": False}),
    ],
    "simulation-completed": lambda run: [
        ("simulation.completed", {"runs_total": 999, "succeeded": 999, "failed": 0}),
    ],
    "results-stored-elsewhere": lambda run: [
        ("results.stored", {"location": "s3://attacker/elsewhere"}),
    ],
}

RESULTS_PREFIX = f"simulations/{TARGET}/"
SCHEDULER_KEYS = (f"scheduler/simulations/{TARGET}.json", f"scheduler/specs/{TARGET}.json")
RUN_TABLE = f"scheduler/runs/{TARGET}/"


@dataclass
class Forgery:
    deployment: Deployment
    before: dict[str, str]
    after: dict[str, str]
    status_before: dict[str, Any]
    status_after: dict[str, Any]
    stored_before: int  # results.stored events of the target before the forgery


@pytest.fixture(scope="module")
async def forgery(spec_outcomes: Deployment) -> Forgery:
    """Every forged event, and a resubmission of the id with another spec, sent against a
    completed simulation; then a fresh simulation run to its end, which the collector (one
    event at a time, in order) can only finish after handling everything sent before it."""
    deployment = spec_outcomes
    cluster = deployment.cluster
    await deployment.tap.wait_until(
        lambda: bool(deployment.events_of(TARGET, "results.stored")), what="results stored"
    )
    deadline = time.monotonic() + 30
    status_before = await cluster.get_json(SCHEDULER_KEYS[0])
    while not status_before["results"]:  # the scheduler records results.stored next
        assert time.monotonic() < deadline, f"results never recorded: {status_before}"
        await asyncio.sleep(0.1)
        status_before = await cluster.get_json(SCHEDULER_KEYS[0])
    before = await deployment.hashes(RESULTS_PREFIX) | await deployment.hashes(RUN_TABLE)
    stored_before = len(deployment.events_of(TARGET, "results.stored"))
    run = planned_run(deployment)
    for forged in FORGED_EVENTS.values():
        for kind, fields in forged(run):
            body = {"kind": kind, "version": 1, "simulation_id": TARGET, **fields}
            await deployment.publish(kind, orjson.dumps(body), exchange="events")
    await deployment.submit(TARGET, spec_with(CYCLE, name="another spec"))
    sentinel = SENTINEL
    await deployment.submit(sentinel, spec_with(CYCLE, name="sentinel"))
    await cluster.wait_for_results(sentinel, timeout=60)
    await deployment.tap.wait_until(
        lambda: len(deployment.events_of(TARGET, "simulation.rejected")) >= 1,
        what="the id-in-use rejection",
    )
    return Forgery(
        deployment=deployment,
        before=before,
        after=await deployment.hashes(RESULTS_PREFIX) | await deployment.hashes(RUN_TABLE),
        status_before=status_before,
        status_after=await cluster.get_json(SCHEDULER_KEYS[0]),
        stored_before=stored_before,
    )


def assert_unchanged(forgery: Forgery) -> None:
    assert forgery.before, "the completed simulation has files"
    assert forgery.after == forgery.before  # same keys, same bytes
    assert forgery.status_before["results"].endswith(f"/simulations/{TARGET}")
    for key in ("phase", "runs_total", "counts", "results", "finished_at", "spec_digest"):
        assert forgery.status_after.get(key) == forgery.status_before.get(key), key


@pytest.mark.parametrize("name", list(FORGED_EVENTS))
async def test_forged_event_never_changes_a_completed_simulation(forgery, name):
    assert_unchanged(forgery)
    deployment = forgery.deployment
    manifest = await deployment.cluster.get_json(f"{RESULTS_PREFIX}manifest.json")
    assert manifest["runs_total"] == 2 and manifest["runs_succeeded"] == 2
    rows = await deployment.cluster.summary(TARGET)
    assert len(rows) == 2 and "forged.r9" not in {row["run_id"] for row in rows}
    logs = deployment.log_text()
    if name == "round-and-completion-of-a-planned-run":
        assert "event of a completed simulation" in logs
    elif name == "round-and-completion-of-an-unplanned-run":
        assert "event of a run not in the plan" in logs
    elif name == "simulation-completed":
        # announced again with the real location, nothing written
        stored = deployment.events_of(TARGET, "results.stored")
        assert len(stored) > forgery.stored_before
        again = [e for e in stored[forgery.stored_before :] if "attacker" not in e["location"]]
        assert again, "the collector announces the stored results again"
        assert {e["location"] for e in again} == {forgery.status_before["results"]}
    elif name == "results-stored-elsewhere":
        assert "attacker" not in orjson.dumps(forgery.status_after).decode()
    assert "forged" not in orjson.dumps(forgery.status_after).decode()


async def test_a_used_id_with_another_spec_is_rejected_as_in_use(forgery):
    (rejected,) = forgery.deployment.events_of(TARGET, "simulation.rejected")
    assert rejected["reason"].startswith("id in use"), rejected
    assert rejected["field"] == "simulation_id"
    assert_unchanged(forgery)
    spec = await forgery.deployment.cluster.get_json(SCHEDULER_KEYS[1])
    assert spec["name"] == "hostile"  # the accepted spec, not the resubmitted one


# --- the runner's node processes -----------------------------------------------------------------


def node_children(deployment: Deployment) -> list[psutil.Process]:
    runner = deployment.cluster.processes[deployment.services["runner"]]
    return [
        child
        for child in psutil.Process(runner.pid).children(recursive=True)
        if "gossipsim.node" in " ".join(child.cmdline())
    ]


def listening_port(process: psutil.Process) -> int:
    (port,) = {c.laddr.port for c in process.net_connections("tcp") if c.status == "LISTEN"}
    return port


async def test_the_runners_nodes_hold_no_secret_and_refuse_strangers(spec_outcomes):
    deployment = spec_outcomes
    runner = deployment.cluster.processes[deployment.services["runner"]]
    assert CANARY in Path(f"/proc/{runner.pid}/environ").read_text(errors="replace")
    nodes = node_children(deployment)
    assert nodes, "the runner keeps its nodes pooled after the runs"
    for node in nodes:
        environ = Path(f"/proc/{node.pid}/environ").read_bytes()
        for secret in deployment.secrets:
            assert secret.encode() not in environ
        assert b"GOSSIPSIM_BROKER_URL" not in environ and b"AWS_" not in environ
        address = f"127.0.0.1:{listening_port(node)}"
        async with raw_stub(address) as stranger:
            with pytest.raises(GRPCError) as error:
                await stranger.Configure(
                    configure_request(),
                    metadata={SECRET_HEADER: new_token(), TOKEN_HEADER: new_token()},
                )
            assert error.value.status is Status.UNAUTHENTICATED
            with pytest.raises(GRPCError) as error:
                await stranger.Terminate(pb.Empty())
            assert error.value.status is Status.UNAUTHENTICATED


# --- 4. the canary is nowhere ------------------------------------------------------------------


async def test_no_secret_in_any_log_message_object_or_cli_output(
    spec_outcomes, malformed_outcomes, forged_starts, forgery
):
    deployment = spec_outcomes
    cluster = deployment.cluster
    for role, name in deployment.services.items():
        environ = Path(f"/proc/{cluster.processes[name].pid}/environ").read_text(errors="replace")
        assert CANARY in environ, f"the {role} runs without the canary: the check means nothing"
    cli_outputs = []
    for args in (
        ("status", "--json"),
        ("status",),
        ("status", sim_id("proc-environ"), "--json"),
        ("status", sim_id("canary-isolated-labels"), "--json"),
        ("status", TARGET, "--json"),
        ("dead-letters", "list", "--json", "--limit", "200"),
        ("dead-letters", "list", "--limit", "200"),
    ):
        done = cluster.cli(*args)
        assert done.returncode == 0, (args, done.stderr)
        cli_outputs += [done.stdout, done.stderr]
    listed = orjson.loads(cli_outputs[-4])["messages"]  # dead-letters list --json
    reasons = [letter["reason"] for letter in listed]
    assert any(r.startswith("impossible run: ") for r in reasons), reasons
    assert any(r.startswith("undecodable message: ") for r in reasons), reasons
    statuses = orjson.loads(cli_outputs[0])  # status --json: every status document
    assert CANARY not in orjson.dumps(statuses).decode() and len(cli_outputs[0]) > 1000
    async with cluster.store() as store:
        objects = [await store.get(key) for key in await store.list("")]
    assert len(objects) > 20
    messages = [
        body.decode(errors="replace") + repr(headers) for _, _, body, headers in deployment.tap.raw
    ]
    assert len(messages) > 50
    texts = [deployment.log_text(), *cli_outputs, *messages]
    texts += [data.decode(errors="replace") for data in objects]
    for secret in deployment.secrets:
        for text in texts:
            assert secret not in text, f"a secret leaked: {text[:300]!r}"
    assert_no_canary(texts)
    cluster.check_alive()


def test_no_rejection_quotes_a_file_it_names(spec_outcomes):
    """Reasons name the source and a line or vertex number, never what a file holds: no line of
    /etc/passwd, no variable of an environment, no label of a canary file."""
    passwd_lines = [line for line in Path("/etc/passwd").read_text().splitlines() if line]
    environment = [f"{name}=" for name in ("PATH", "HOME", "GOSSIPSIM_BROKER_URL")]
    for name in SPEC_CASES:
        (rejected,) = spec_outcomes.events_of(sim_id(name), "simulation.rejected")
        reason = rejected["reason"]
        assert CANARY not in reason
        assert not [line for line in passwd_lines if line in reason], reason
        assert not [words for words in environment if words in reason], reason
