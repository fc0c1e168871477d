"""The deployment commands of the CLI against real services: ``status``, ``results``,
``cancel``, ``dead-letters list|replay``, and the pika snippet of docs/operations.md.

Each test has its own prefix on the shared broker and its own prefix in the session's S3
bucket (the ``cluster`` fixture); the CLI runs as a subprocess with the deployment's
environment, as an operator would run it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest

from gossipsim.common.runtime.connections import open_bus
from gossipsim.common.runtime.settings import ServiceSettings
from gossipsim.common.spec.simulation_spec import simulation_id_for
from gossipsim.common.storage.s3_store import S3ObjectStore, S3StoreError
from tests.conftest import REPO
from tests.distributed.harness import CLI, Cluster, Tap

QUICKSTART = REPO / "examples" / "quickstart.yaml"


def status_document(simulation_id: str, **changes: Any) -> dict[str, Any]:
    """A status document as the scheduler writes it: 4 runs, one failed after 3 attempts."""
    runs = {
        f"g.default.r{k}": {"status": s, "attempt": 1, "error": "", "leased": False}
        for k, s in enumerate(["completed", "running", "queued"])
    }
    runs["g.default.r3"] = {
        "status": "failed",
        "attempt": 3,
        "error": "ShardFailed: node shard 0 stopped answering",
        "leased": False,
    }
    document = {
        "simulation_id": simulation_id,
        "name": simulation_id.split("-")[0],
        "phase": "running",
        "runs_total": 4,
        "counts": {"queued": 1, "running": 1, "completed": 1, "failed": 1},
        "submitted_at": "2026-03-01T12:00:00+00:00",
        "finished_at": None,
        "results": "",
        "spec": {"name": "x"},
        "graphs_dir": "",
        "published": True,
        "runs": runs,
    }
    return {**document, **changes}


def rejected_document(simulation_id: str) -> dict[str, Any]:
    """As the scheduler stores a rejected submission: no runs, the field and the reason."""
    return {
        "simulation_id": simulation_id,
        "name": "",
        "phase": "rejected",
        "runs_total": 0,
        "counts": {"queued": 0, "running": 0, "completed": 0, "failed": 0},
        "submitted_at": "2026-03-01T14:00:00+00:00",
        "finished_at": "2026-03-01T14:00:00+00:00",
        "results": "",
        "rejected": {"field": "graphs[0].params.n", "reason": "must be positive"},
        "runs": {},
    }


async def put_status(cluster: Cluster, document: dict[str, Any]) -> None:
    async with cluster.store() as store:
        await store.put(
            f"scheduler/simulations/{document['simulation_id']}.json", orjson.dumps(document)
        )


async def queue_depth(cluster: Cluster, suffix: str) -> int:
    """Ready messages in one of the deployment's queues (a passive declare: nothing made)."""
    connection = await aio_pika.connect(cluster.broker_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{cluster.prefix}.{suffix}", passive=True)
        return int(queue.declaration_result.message_count or 0)


async def wait_for_depth(cluster: Cluster, suffix: str, depth: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (current := await queue_depth(cluster, suffix)) != depth:
        cluster.check_alive()
        assert time.monotonic() < deadline, f"{suffix}: {current} messages, not {depth}"
        await asyncio.sleep(0.2)


def cli_with(cluster: Cluster, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with the deployment's environment, some of it changed."""
    return subprocess.run(
        [*CLI, *args],
        env={**cluster.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def declare_topology(cluster: Cluster) -> None:
    """Exchanges and queues as the services declare them (idempotent)."""
    async with open_bus(ServiceSettings.from_env(cluster.env)):
        pass


# -- status ---------------------------------------------------------------------------------


async def test_status_lists_every_simulation_and_shows_one_in_detail(cluster: Cluster):
    await put_status(cluster, status_document("sweep-aaaa"))
    await put_status(
        cluster,
        status_document(
            "quick-bbbb",
            phase="completed",
            submitted_at="2026-03-01T13:00:00+00:00",
            finished_at="2026-03-01T13:04:30+00:00",
            counts={"queued": 0, "running": 0, "completed": 3, "failed": 1},
            results="s3://bucket/simulations/quick-bbbb",
        ),
    )

    listing = cluster.cli("status")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["SIMULATION", "NAME", "PHASE", "DONE", "FAILED", "SUBMITTED"]
    assert lines[1].split()[:5] == ["sweep-aaaa", "sweep", "running", "2/4", "1"]
    assert lines[2].split()[:5] == ["quick-bbbb", "quick", "completed", "4/4", "1"]
    assert "2026-03-01 13:00:00 UTC" in lines[2]

    detail = cluster.cli("status", "quick-bbbb")
    assert detail.returncode == 0, detail.stderr
    assert re.search(r"phase\s+completed", detail.stdout)
    assert re.search(r"runs\s+4/4 done: 3 completed, 1 failed, 0 running, 0 queued", detail.stdout)
    assert re.search(r"finished\s+2026-03-01 13:04:30 UTC \(took 4m 30s\)", detail.stdout)
    assert re.search(r"results\s+s3://bucket/simulations/quick-bbbb", detail.stdout)
    assert "failed runs (1):" in detail.stdout
    assert (
        "g.default.r3 after 3 attempts: ShardFailed: node shard 0 stopped answering"
        in detail.stdout
    )

    running = cluster.cli("status", "sweep-aaaa")
    assert re.search(r"results\s+not stored yet", running.stdout)
    assert "running for" in running.stdout


async def test_status_of_a_rejected_submission_says_why(cluster: Cluster, tmp_path: Path):
    await put_status(cluster, rejected_document("bad-cccc"))

    listing = cluster.cli("status")
    detail = cluster.cli("status", "bad-cccc")
    results = cluster.cli("results", "bad-cccc", "--out", str(tmp_path))

    assert listing.stdout.splitlines()[1].split()[:5] == ["bad-cccc", "-", "rejected", "0/0", "0"]
    assert detail.returncode == 0, detail.stderr
    assert re.search(r"rejected\s+graphs\[0\]\.params\.n: must be positive", detail.stdout)
    assert re.search(r"results\s+none", detail.stdout) and "runs " not in detail.stdout
    assert results.returncode == 1
    assert "bad-cccc was rejected: graphs[0].params.n: must be positive" in results.stderr
    assert "fix the spec and submit it again" in results.stderr


async def test_status_json_prints_the_documents(cluster: Cluster):
    document = status_document("sweep-aaaa")
    await put_status(cluster, document)

    one = cluster.cli("status", "sweep-aaaa", "--json")
    every = cluster.cli("status", "--json")

    assert one.returncode == 0 and every.returncode == 0, (one.stderr, every.stderr)
    assert orjson.loads(one.stdout) == document
    assert orjson.loads(every.stdout) == [document]


async def test_status_of_an_unknown_simulation_says_so_and_exits_1(cluster: Cluster):
    await put_status(cluster, status_document("sweep-aaaa"))

    unknown = cluster.cli("status", "nothing-here")
    invalid = cluster.cli("status", "../escape")

    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "no simulation 'nothing-here'" in unknown.stderr
    assert "`gossipsim status` lists" in unknown.stderr
    assert invalid.returncode == 2 and "invalid simulation id '../escape'" in invalid.stderr


async def test_status_of_an_empty_deployment_and_of_a_missing_bucket(cluster: Cluster):
    empty = cluster.cli("status")
    assert empty.returncode == 0 and "no simulations" in empty.stdout

    nowhere = f"s3://{cluster.prefix}-missing/results"
    missing = cli_with(cluster, {"GOSSIPSIM_STORE": nowhere}, "status")
    assert missing.returncode == 1, missing.stdout
    assert f"could not read the store {nowhere!r}" in missing.stderr
    assert "NoSuchBucket" in missing.stderr and "Check GOSSIPSIM_STORE" in missing.stderr
    async with S3ObjectStore.open(
        nowhere, endpoint_url=cluster.s3_endpoint, create_bucket=False
    ) as store:
        with pytest.raises(S3StoreError, match="NoSuchBucket"):  # not created on the way
            await store.list("")


async def test_status_and_results_read_a_store_directory_too(cluster: Cluster, tmp_path: Path):
    """GOSSIPSIM_STORE may be a directory (a deployment on one machine) instead of S3."""
    store = tmp_path / "store"
    status = store / "scheduler" / "simulations" / "quick-bbbb.json"
    status.parent.mkdir(parents=True)
    status.write_bytes(orjson.dumps(status_document("quick-bbbb", phase="completed")))
    for name in ("manifest.json", "summary.csv", "runs/r1/result.json", "runs/r1/parts/1.json"):
        (store / "simulations" / "quick-bbbb" / name).parent.mkdir(parents=True, exist_ok=True)
        (store / "simulations" / "quick-bbbb" / name).write_text(name)
    local = {"GOSSIPSIM_STORE": str(store)}

    listing = cli_with(cluster, local, "status")
    fetched = cli_with(cluster, local, "results", "quick-bbbb", "--out", str(tmp_path / "out"))
    missing = cli_with(cluster, {"GOSSIPSIM_STORE": str(tmp_path / "nowhere")}, "status")

    assert listing.returncode == 0 and "quick-bbbb" in listing.stdout, listing.stderr
    assert fetched.returncode == 0, fetched.stderr
    copied = tmp_path / "out" / "quick-bbbb"
    assert sorted(str(p.relative_to(copied)) for p in copied.rglob("*") if p.is_file()) == [
        "manifest.json",
        "runs/r1/result.json",
        "summary.csv",
    ]
    assert missing.returncode == 1 and "does not exist" in missing.stderr


# -- results --------------------------------------------------------------------------------


@pytest.mark.timeout(600)
async def test_results_copies_a_completed_simulation_and_status_shows_it(
    cluster: Cluster, tmp_path: Path
):
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)
    simulation_id = cluster.submit(QUICKSTART)
    await cluster.wait_for_results(simulation_id)

    out = tmp_path / "copy"
    fetched = cluster.cli("results", simulation_id, "--out", str(out))

    assert fetched.returncode == 0, fetched.stderr
    target = out / simulation_id
    assert fetched.stdout.strip() == str(target)
    top = sorted(p.name for p in target.iterdir())
    assert top == [
        "averaged.csv", "manifest.json", "plots", "report.html", "rounds", "rounds.parquet",
        "runs", "submitted.json", "summary.csv", "summary.parquet",
    ]  # fmt: skip
    assert sorted(p.name for p in (target / "rounds").iterdir()) == ["part-00000.csv"]
    assert sorted(p.name for p in (target / "plots").iterdir()) == [
        "convergence.png",
        "rounds.png",
        "sweep.png",
    ]
    runs = sorted((target / "runs").iterdir())
    assert len(runs) == 45
    assert all(
        sorted(p.name for p in run.iterdir()) == ["result.json", "rounds.jsonl"] for run in runs
    )
    stored = await cluster.list_keys(f"simulations/{simulation_id}/")
    assert any("/parts/" in key for key in stored)  # what was left out exists in the store
    async with cluster.store() as store:
        for name in ("summary.csv", "manifest.json", f"runs/{runs[0].name}/rounds.jsonl"):
            expected = await store.get(f"simulations/{simulation_id}/{name}")
            assert (target / name).read_bytes() == expected, name
    assert f"copied {11 + 2 * 45} files" in fetched.stderr

    # The scheduler records where the results went once the collector says so.
    deadline = time.monotonic() + 60
    while True:
        status = cluster.cli("status", simulation_id, "--json")
        document = orjson.loads(status.stdout) if status.returncode == 0 else {}
        if document.get("results"):
            break
        assert time.monotonic() < deadline, (status.stdout, status.stderr)
        await asyncio.sleep(0.5)
    assert document["phase"] == "completed"
    assert document["counts"] == {"queued": 0, "running": 0, "completed": 45, "failed": 0}
    assert document["results"].endswith(f"simulations/{simulation_id}")
    detail = cluster.cli("status", simulation_id)
    assert re.search(r"runs\s+45/45 done: 45 completed, 0 failed", detail.stdout)


async def test_results_of_an_unfinished_simulation_say_so_and_show_its_status(
    cluster: Cluster, tmp_path: Path
):
    await put_status(cluster, status_document("sweep-aaaa"))
    async with cluster.store() as store:  # some results, as the collector writes them early
        await store.put("simulations/sweep-aaaa/submitted.json", b"{}")

    early = cluster.cli("results", "sweep-aaaa", "--out", str(tmp_path))
    unknown = cluster.cli("results", "nothing-here", "--out", str(tmp_path))

    assert early.returncode == 1
    assert "'sweep-aaaa' has not completed yet" in early.stderr
    assert "sweep-aaaa is running: 2/4 runs done, 1 failed" in early.stderr
    assert unknown.returncode == 1 and "no results of a simulation 'nothing-here'" in unknown.stderr
    assert list(tmp_path.iterdir()) == []  # nothing copied


# -- cancel ---------------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_cancel_publishes_simulation_cancel_and_the_simulation_ends_cancelled(
    cluster: Cluster,
):
    cluster.start("scheduler")
    cluster.start("collector")  # no runner: the runs stay queued until cancelled
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(QUICKSTART)
        await tap.wait_until(lambda: tap.of_kind("simulation.accepted"), what="simulation.accepted")

        done = cluster.cli("cancel", simulation_id, "--reason", "wrong parameters")

        assert done.returncode == 0, done.stderr
        assert f"cancellation of {simulation_id} requested" in done.stdout
        await tap.wait_until(
            lambda: tap.of_kind("simulation.completed"), what="simulation.completed"
        )
    cancels = tap.of_kind("simulation.cancel", "commands")
    assert [(c.routing_key, c.body["simulation_id"], c.body["reason"]) for c in cancels] == [
        ("simulation.cancel", simulation_id, "wrong parameters")
    ]
    assert tap.of_kind("simulation.completed")[0].body["cancelled"] is True
    manifest = await cluster.wait_for_results(simulation_id)
    assert manifest["cancelled"] is True
    status = cluster.cli("status", simulation_id, "--json")
    assert orjson.loads(status.stdout)["phase"] == "cancelled"


async def test_deployment_commands_without_a_broker_say_what_to_check(cluster: Cluster):
    unreachable = {"GOSSIPSIM_BROKER_URL": "amqp://guest:secret@127.0.0.1:1/"}

    cancel = cli_with(cluster, unreachable, "cancel", "x")
    listing = cli_with(cluster, unreachable, "dead-letters", "list")
    bad_setting = cli_with(cluster, {"GOSSIPSIM_DELIVERY_LIMIT": "many"}, "cancel", "x")

    for done in (cancel, listing):
        assert done.returncode == 1
        assert "could not talk to RabbitMQ at amqp://guest:***@127.0.0.1:1/" in done.stderr
        assert "Check GOSSIPSIM_BROKER_URL" in done.stderr and "secret" not in done.stderr
    assert bad_setting.returncode == 2 and "GOSSIPSIM_DELIVERY_LIMIT" in bad_setting.stderr


# -- dead letters ---------------------------------------------------------------------------


async def publish_raw(
    cluster: Cluster,
    exchange_suffix: str,
    routing_key: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: dict[str, Any] | None = None,
) -> None:
    connection = await aio_pika.connect(cluster.broker_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{cluster.prefix}.{exchange_suffix}")
        message = aio_pika.Message(
            body,
            content_type=content_type,
            headers=headers or {},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key)


def dead_letters(cluster: Cluster, *args: str) -> Any:
    done = cluster.cli("dead-letters", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


@pytest.mark.timeout(300)
async def test_dead_letters_are_listed_in_place_and_replayed_by_filter(cluster: Cluster):
    await declare_topology(cluster)
    # Broken commands, as a buggy client might send them; the consumers dead-letter them.
    await publish_raw(cluster, "commands", "run.start", b"\x00 not json")
    await publish_raw(
        cluster,
        "commands",
        "run.start",
        b'{"kind": "run.bogus", "version": 1, "simulation_id": "sim-a", "run_id": "r-1"}',
        headers={"x-trace": "abc"},
    )
    await publish_raw(cluster, "commands", "run.start", b"{}", content_type="text/plain")
    await publish_raw(
        cluster,
        "commands",
        "simulation.cancel",
        b'{"kind": "simulation.cancel", "version": 1, "simulation_id": "sim-b", "extra": 1}',
    )
    # A copy whose routing key is no message kind: its exchange cannot be known.
    await publish_raw(
        cluster, "dead-letter", "mystery.key", b"{}", headers={"x-gossipsim-reason": "test"}
    )
    cluster.start("runner")
    cluster.start("scheduler")
    await wait_for_depth(cluster, "dead-letters", 5)
    assert set(cluster.stop_all().values()) == {0}  # replayed messages will wait in queues
    before = {q: await queue_depth(cluster, q) for q in ("scheduler", "runs")}

    listing = cluster.cli("dead-letters", "list")
    assert listing.returncode == 0, listing.stderr
    assert f"5 dead-lettered message(s) in {cluster.prefix}.dead-letters" in listing.stdout
    assert "undecodable message: not JSON" in listing.stdout
    assert re.search(r"run\.start \(body: run\.bogus\)\s+sim-a\s+r-1", listing.stdout)
    assert "content type 'text/plain' is not application/json" in listing.stdout
    assert re.search(r"simulation\.cancel\s+sim-b\s+-\s+\d+\s+undecodable", listing.stdout)
    await wait_for_depth(cluster, "dead-letters", 5)  # looking removed nothing

    shown = dead_letters(cluster)
    assert shown["total"] == 5 and len(shown["messages"]) == 5
    assert sorted(m["kind"] for m in shown["messages"]) == [
        "mystery.key",
        "run.start",
        "run.start",
        "run.start",
        "simulation.cancel",
    ]
    assert all(m["reason"] and isinstance(m["delivery_count"], int) for m in shown["messages"])
    limited = cluster.cli("dead-letters", "list", "--limit", "2")
    assert "the first 2 shown" in limited.stdout and "… and 3 more" in limited.stdout

    unfiltered = cluster.cli("dead-letters", "replay")
    assert unfiltered.returncode == 2 and "--all" in unfiltered.stderr

    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        one = cluster.cli("dead-letters", "replay", "--simulation", "sim-b")
        assert one.returncode == 0, one.stderr
        assert "replayed 1 message(s)" in one.stdout and "4 remain" in one.stdout
        await wait_for_depth(cluster, "scheduler", before["scheduler"] + 1)

        three = cluster.cli("dead-letters", "replay", "--kind", "run.start")
        assert three.returncode == 0, three.stderr
        assert "replayed 3 message(s)" in three.stdout and "1 remain" in three.stdout
        await wait_for_depth(cluster, "runs", before["runs"] + 3)
        await tap.wait_until(lambda: len(tap.messages) >= 4, what="the replayed messages")
    await wait_for_depth(cluster, "dead-letters", 1)
    assert [(m.exchange, m.routing_key) for m in tap.messages] == [
        (f"{cluster.prefix}.commands", "simulation.cancel"),
        *[(f"{cluster.prefix}.commands", "run.start")] * 3,
    ]
    for replayed in tap.messages:  # fresh messages: no dead-letter headers
        assert not {"x-gossipsim-reason", "x-delivery-count"} & set(replayed.headers)
    assert [m.headers.get("x-trace") for m in tap.messages].count("abc") == 1

    rest = cluster.cli("dead-letters", "replay", "--all")
    assert rest.returncode == 1
    assert "replayed 0 message(s)" in rest.stdout
    assert "('mystery.key') are no message kind" in rest.stdout
    assert [m["kind"] for m in dead_letters(cluster)["messages"]] == ["mystery.key"]


async def test_a_replayed_message_no_queue_takes_stays_dead_lettered(cluster: Cluster):
    await declare_topology(cluster)
    reason = {"x-gossipsim-reason": "delivery limit of 5 reached"}
    await publish_raw(
        cluster, "dead-letter", "run.start", b'{"simulation_id": "s"}', headers=reason
    )
    await wait_for_depth(cluster, "dead-letters", 1)
    connection = await aio_pika.connect(cluster.broker_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(f"{cluster.prefix}.runs")  # run.start now goes nowhere

    lost = cluster.cli("dead-letters", "replay", "--kind", "run.start")

    assert lost.returncode == 1
    assert "1 selected message(s) ('run.start') were not routed to any queue" in lost.stdout
    await wait_for_depth(cluster, "dead-letters", 1)


# -- any AMQP client --------------------------------------------------------------------------


def docs_pika_snippet() -> str:
    operations = (REPO / "docs" / "operations.md").read_text()
    section = operations.split("## Submitting from any AMQP client", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]


@pytest.mark.timeout(300)
async def test_the_documented_pika_snippet_submits_a_simulation(cluster: Cluster):
    """docs/operations.md's example, run as printed but for the broker URL and the prefix."""
    snippet = docs_pika_snippet()
    assert 'URLParameters("amqp://guest:guest@localhost:5672/")' in snippet
    assert 'exchange="gossipsim.commands"' in snippet
    snippet = snippet.replace("amqp://guest:guest@localhost:5672/", cluster.broker_url)
    snippet = snippet.replace('"gossipsim.commands"', f'"{cluster.prefix}.commands"')
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)
    await declare_topology(cluster)  # as the services will have done, had they started already

    namespace: dict[str, Any] = {}
    await asyncio.to_thread(exec, snippet, namespace)

    simulation_id = simulation_id_for(namespace["spec"])
    manifest = await cluster.wait_for_results(simulation_id)
    assert manifest["runs_total"] == 3 and manifest["runs_succeeded"] == 3
    assert manifest["name"] == "ring-min"
