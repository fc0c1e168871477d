"""RabbitMQ gives each role only what it needs: the users, permissions and topology the
broker's init container renders (k8s/base/broker/), and the URL each service connects with.

The definitions are made here exactly as on the cluster: the init container's own command
(``render-definitions.sh`` on ``definitions.template.json``, both from the rendered ConfigMap)
with its environment from the rendered Secret and ConfigMap (tests/k8s/manifests.py,
:func:`broker_definitions`). Which permissions RabbitMQ really enforces, and that the services
work with them, is tested on a RabbitMQ node in test_broker_users_on_rabbitmq.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gossipsim.common.messaging.amqp_bus import AmqpBus
from gossipsim.common.messaging.messages import MESSAGE_TYPES
from gossipsim.common.messaging.topology import Topology
from tests.k8s.manifests import (
    BROKER_ROLES,
    BROKER_URL_TEMPLATE,
    K8S,
    NAMESPACE,
    RENDERS,
    REPO,
    SERVICES,
    Obj,
    broker_definitions,
    container_environment,
    env_of,
    find,
    gossipsim_config,
    ident,
    pod_labels,
    pod_spec,
    render,
    secret_value,
    workloads,
)

ADMIN_TAGS = ["administrator"]
EXCHANGES = ("commands", "events", "dead-letter")
# Who may publish each message kind to the exchange it belongs on (docs/messages.md, "from").
PUBLISHERS = {
    "simulation.submit": {"client", "scheduler"},  # the scheduler's Kubernetes watcher submits
    "simulation.cancel": {"client", "scheduler"},
    "run.start": {"scheduler"},
    "simulation.accepted": {"scheduler"},
    "simulation.rejected": {"scheduler"},
    "simulation.completed": {"scheduler"},
    "run.started": {"runner"},
    "run.round": {"runner"},
    "run.graph": {"runner"},
    "run.heartbeat": {"runner"},
    "run.completed": {"runner"},
    "run.failed": {"runner", "scheduler"},  # the scheduler fails a dead-lettered run
    "results.stored": {"collector"},
}


def user(role: str) -> str:
    return f"gossipsim-{role}"


def _with_broker(name: str) -> bool:
    return "external-services" not in name


def _permission(definitions: dict[str, Any], role: str) -> dict[str, str]:
    (found,) = [p for p in definitions["permissions"] if p["user"] == user(role)]
    return dict(found)


def _topic(definitions: dict[str, Any], role: str, exchange: str) -> dict[str, str] | None:
    found = [
        t
        for t in definitions["topic_permissions"]
        if t["user"] == user(role) and t["exchange"] == exchange
    ]
    return dict(found[0]) if found else None


def may_publish(definitions: dict[str, Any], role: str, exchange: str, key: str) -> bool:
    """RabbitMQ's verdict on basic.publish: write on the exchange, and the topic permission's
    write on the routing key where the user has one for that exchange."""
    if not re.search(_permission(definitions, role)["write"], exchange):
        return False
    topic = _topic(definitions, role, exchange)
    return topic is None or re.search(topic["write"], key) is not None


def may_read(definitions: dict[str, Any], role: str, queue: str) -> bool:
    return re.search(_permission(definitions, role)["read"], queue) is not None


def may_configure(definitions: dict[str, Any], role: str, name: str) -> bool:
    """Declare (not passively) or delete a queue or exchange of that name."""
    return re.search(_permission(definitions, role)["configure"], name) is not None


def may_bind(
    definitions: dict[str, Any], role: str, destination: str, source: str, key: str
) -> bool:
    """RabbitMQ's verdict on queue.bind and exchange.bind: write on the destination (queue or
    exchange), read on the source exchange, and the topic permission's read on the binding key
    where the user has one for the source."""
    permission = _permission(definitions, role)
    if not (re.search(permission["write"], destination) and re.search(permission["read"], source)):
        return False
    topic = _topic(definitions, role, source)
    return topic is None or re.search(topic["read"], key) is not None


@pytest.fixture(scope="module")
def rendered(k8s_base: list[Obj], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return broker_definitions(k8s_base, tmp_path_factory.mktemp("definitions")).definitions


def _documented_block() -> list[tuple[str, str, str]]:
    """The rows of the permissions block in docs/kubernetes.md (user, what, regex)."""
    text = (REPO / "docs" / "kubernetes.md").read_text()
    section = text.split("## Broker users and permissions", 1)[1].split("\n## ", 1)[0]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    rows = []
    for line in block.splitlines():
        user_name, what, regex = re.split(r"\s{2,}", line.strip())
        rows.append((user_name, what, regex))
    return rows


def test_the_documented_permissions_are_those_the_broker_gets(rendered):
    rows = []
    for permission in rendered["permissions"]:
        if permission["user"] == "gossipsim-admin":
            continue
        for what in ("configure", "write", "read"):
            rows.append((permission["user"], what, permission[what]))
    for topic in rendered["topic_permissions"]:
        for what in ("write", "read"):
            rows.append((topic["user"], f"topic {what} {topic['exchange']}", topic[what]))
    documented = _documented_block()
    assert len(set(documented)) == len(documented)
    assert sorted(documented) == sorted(rows)


def test_each_role_has_its_own_user_whose_hash_is_of_its_secret_password(k8s_base, rendered):
    users = {u["name"]: u for u in rendered["users"]}
    admin = secret_value(k8s_base, "gossipsim-secrets", "RABBITMQ_DEFAULT_USER")
    assert set(users) == {admin, *(user(role) for role in BROKER_ROLES)}
    for name, entry in users.items():
        key = "RABBITMQ_DEFAULT_PASS" if name == admin else f"BROKER_{name[10:].upper()}_PASSWORD"
        password = secret_value(k8s_base, "gossipsim-secrets", key)
        assert entry["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        salted = base64.b64decode(entry["password_hash"])
        salt, digest = salted[:4], salted[4:]
        assert digest == hashlib.sha256(salt + password.encode()).digest(), name
        assert entry["tags"] == (ADMIN_TAGS if name == admin else []), name
    hashes = [u["password_hash"] for u in users.values()]
    assert len(set(hashes)) == len(hashes)
    everything = {"user": admin, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    assert everything in rendered["permissions"]
    assert {p["vhost"] for p in rendered["permissions"]} == {"/"}


def test_each_message_kind_may_be_published_only_by_the_roles_that_send_it(rendered):
    topology = Topology(prefix="gossipsim")
    assert set(PUBLISHERS) == set(MESSAGE_TYPES), "a new message kind needs its publishers"
    for kind, publishers in PUBLISHERS.items():
        exchange = topology.exchange_for(kind)
        allowed = {r for r in BROKER_ROLES if may_publish(rendered, r, exchange, kind)}
        assert allowed == publishers, kind
        for other in set(EXCHANGES) - {exchange.rsplit(".", 1)[1]}:
            if other == "dead-letter":
                continue  # dead-lettering, below
            wrong = f"gossipsim.{other}"
            assert not {r for r in BROKER_ROLES if may_publish(rendered, r, wrong, kind)}, kind


def test_the_client_may_publish_only_submit_and_cancel_to_the_commands_exchange(rendered):
    topic = _topic(rendered, "client", "gossipsim.commands")
    assert topic is not None
    assert topic["write"] == r"^simulation\.(submit|cancel)$"
    for key in ("simulation.submit", "simulation.cancel"):
        assert may_publish(rendered, "client", "gossipsim.commands", key)
    for key in ("run.start", "simulation.completed", "simulation.submit.x", "xsimulation.submit",
                "simulation.*", "#", ""):  # fmt: skip
        assert not may_publish(rendered, "client", "gossipsim.commands", key), key
    for exchange in ("gossipsim.events", "gossipsim.dead-letter", "amq.default", "amq.topic"):
        for key in ("run.completed", "simulation.completed", "run.start", "", "gossipsim.runs"):
            assert not may_publish(rendered, "client", exchange, key), (exchange, key)


def test_only_a_queue_s_own_consumer_reads_it_and_only_the_admin_reads_dead_letters(rendered):
    owners = {"runs": "runner", "scheduler": "scheduler", "collector": "collector"}
    for suffix in ("runs", "scheduler", "collector", "dead-letters"):
        readers = {r for r in BROKER_ROLES if may_read(rendered, r, f"gossipsim.{suffix}")}
        assert readers == ({owners[suffix]} if suffix in owners else set()), suffix
    assert may_read(rendered, "runner", "gossipsim.runner-feed.gossipsim-runner-abc-1a2b3c")
    assert not may_read(rendered, "client", "gossipsim.runner-feed.gossipsim-runner-abc-1a2b3c")


def test_dead_lettering_is_allowed_for_what_arrives_on_each_role_s_queue(rendered):
    """A service dead-letters a message with the routing key it came with; run.start on the
    dead-letter exchange tells the scheduler a run has failed, so only who handles run.start
    may publish it there."""
    arriving = {
        "scheduler": ["simulation.submit", "simulation.cancel", "run.started", "run.heartbeat",
                      "run.completed", "run.failed", "results.stored", "run.start"],
        "runner": ["run.start"],
        "collector": ["run.started", "run.round", "run.heartbeat", "run.completed",
                      "run.failed", "simulation.accepted", "simulation.rejected",
                      "simulation.completed"],
    }  # fmt: skip
    for role, keys in arriving.items():
        for key in keys:
            assert may_publish(rendered, role, "gossipsim.dead-letter", key), (role, key)
    for role in ("client", "monitor", "collector"):
        assert not may_publish(rendered, role, "gossipsim.dead-letter", "run.start"), role


FEED = "gossipsim.runner-feed.gossipsim-runner-abc-1a2b3c"
TOPOLOGY_NAMES = [f"gossipsim.{name}" for name in (*EXCHANGES, "runs", "scheduler", "collector",
                                                   "dead-letters")]  # fmt: skip


def test_the_services_declare_nothing_but_check_the_topology_the_broker_creates(k8s_renders):
    """Only checking (passive declares) needs no configure permission."""
    for name, objs in k8s_renders.items():
        assert gossipsim_config(objs)["GOSSIPSIM_DECLARE_TOPOLOGY"] == "false", name


def test_no_role_may_create_or_delete_anything_but_the_runner_its_feed_queues(rendered):
    for role in BROKER_ROLES:
        for name in (*TOPOLOGY_NAMES, "gossipsim.extra", "gossipsim.runs.x", "amq.default"):
            assert not may_configure(rendered, role, name), (role, name)
        assert may_configure(rendered, role, FEED) is (role == "runner"), role
    for name in ("gossipsim.runner-feed.", "x.gossipsim.runner-feed.a", "gossipsim.runner-feedx"):
        assert not may_configure(rendered, "runner", name), name


def test_no_role_may_bind_anything_but_the_runner_to_finished_simulations(rendered):
    """Not the runs queue to run.# on events (its runners would dead-letter every event), nor
    any other binding, but the runner's of its feed queue to simulation.completed on events.
    The write on events and dead-letter that the runner publishes with lets it also bind those
    exchanges to events with that key (RabbitMQ has no separate permission for it): a loop
    events gives each queue a message once, and the dead-letter exchange would only route copies
    of simulation.completed to the dead-letters queue (docs/kubernetes.md)."""
    keys = ("run.start", "run.#", "simulation.*", "simulation.#", "simulation.completed", "#")
    events = "gossipsim.events"
    runner_may = {(FEED, events, "simulation.completed")} | {
        (exchange, events, "simulation.completed") for exchange in (events, "gossipsim.dead-letter")
    }
    for role in BROKER_ROLES:
        for source in (f"gossipsim.{e}" for e in EXCHANGES):
            for destination in (*TOPOLOGY_NAMES, FEED):
                for key in keys:
                    allowed = role == "runner" and (destination, source, key) in runner_may
                    assert may_bind(rendered, role, destination, source, key) is allowed, (
                        role, destination, source, key
                    )  # fmt: skip


def test_the_monitor_may_do_nothing_but_connect(rendered):
    permission = _permission(rendered, "monitor")
    for what in ("configure", "write", "read"):
        assert permission[what] == "^$"
        for name in ("gossipsim.runs", "amq.default", "gossipsim.commands"):
            assert not re.search(permission[what], name)


@pytest.mark.parametrize("name", RENDERS)
def test_each_service_connects_as_its_own_role_with_its_own_password(k8s_renders, name):
    objs = k8s_renders[name]
    config = gossipsim_config(objs)
    urls = set()
    for obj, spec in workloads(objs):
        component = pod_labels(obj)["app.kubernetes.io/component"]
        if component not in SERVICES:
            continue
        (container,) = spec["containers"]
        env = env_of(container)
        names = list(env)
        assert env["BROKER_USER"]["value"] == user(component), ident(obj)
        ref = env["BROKER_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "gossipsim-secrets", "key": f"BROKER_{component.upper()}_PASSWORD"}
        assert env["GOSSIPSIM_BROKER_URL"]["value"] == BROKER_URL_TEMPLATE
        # the kubelet expands only variables defined before the one that refers to them
        assert names.index("GOSSIPSIM_BROKER_URL") > names.index("BROKER_PASSWORD")
        assert names.index("GOSSIPSIM_BROKER_URL") > names.index("BROKER_USER")
        password = secret_value(objs, "gossipsim-secrets", ref["key"])
        url = container_environment(objs, container)["GOSSIPSIM_BROKER_URL"]
        expected = (
            f"{config['BROKER_SCHEME']}://{user(component)}:{password}@{config['BROKER_ADDRESS']}"
        )
        assert url == expected, ident(obj)
        urls.add(url)
    assert len(urls) == len(SERVICES)
    if _with_broker(name):
        assert config["BROKER_ADDRESS"] == "gossipsim-rabbitmq:5672"
        assert config["BROKER_SCHEME"] == "amqp"


def _secret_values(k8s_copy: Path) -> dict[str, str]:
    lines = (k8s_copy / "base" / "secrets.env").read_text().splitlines()
    pairs = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {k: v for k, v in pairs.items() if re.search("PASS|SECRET|URL", k)}


@pytest.mark.parametrize("name", RENDERS)
def test_no_password_is_in_any_rendered_object_but_the_secret(k8s_renders, k8s_copy, name):
    secrets = _secret_values(k8s_copy)
    passwords = {v for k, v in secrets.items() if not k.endswith("URL")}
    # the admin's, five roles', MinIO's root password (also the store's secret key), and the
    # static node pool's launch secret
    assert len(passwords) == 8 and all(len(p) >= 32 for p in passwords)
    for obj in k8s_renders[name]:
        text = yaml.safe_dump(obj)
        if obj["kind"] == "Secret":
            assert "stringData" not in obj
            encoded = {base64.b64decode(v).decode() for v in obj["data"].values()}
            assert set(secrets.values()) <= encoded
        for password in passwords:
            assert password not in text, ident(obj)
            if obj["kind"] != "Secret":
                assert base64.b64encode(password.encode()).decode() not in text, ident(obj)


@pytest.mark.parametrize("name", [n for n in RENDERS if _with_broker(n)])
def test_the_broker_renders_its_definitions_before_it_starts(k8s_renders, name):
    objs = k8s_renders[name]
    statefulset = find(objs, "StatefulSet", "gossipsim-rabbitmq")
    spec = pod_spec(statefulset)
    assert spec is not None
    (init,) = spec["initContainers"]
    (rabbitmq,) = spec["containers"]
    assert init["image"] == rabbitmq["image"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    config = find(objs, "ConfigMap", volumes["config"]["configMap"]["name"])["data"]
    init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert init["command"] == [
        "sh",
        f"{init_mounts['config']}/render-definitions.sh",
        f"{init_mounts['config']}/definitions.template.json",
        f"{init_mounts['definitions']}/definitions.json",
    ]
    # every password the template hashes comes from the Secret, one key each; the prefix from
    # the services' own ConfigMap
    names = set(re.findall(r"@SHA256:([A-Z0-9_]+)@", config["definitions.template.json"]))
    env = env_of(init)
    assert set(env) == names | {"RABBITMQ_DEFAULT_USER", "GOSSIPSIM_PREFIX"}
    for key in names | {"RABBITMQ_DEFAULT_USER"}:
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "gossipsim-secrets", "key": key}
    prefix_ref = env["GOSSIPSIM_PREFIX"]["valueFrom"]["configMapKeyRef"]
    assert prefix_ref["key"] == "GOSSIPSIM_PREFIX"
    assert prefix_ref["name"].startswith("gossipsim-config")
    # RabbitMQ imports what the init container wrote; it holds no password itself
    (load,) = re.findall(r"^load_definitions = (\S+)$", config["rabbitmq.conf"], re.M)
    mounts = {m["name"]: m for m in rabbitmq["volumeMounts"]}
    assert load == f"{mounts['definitions']['mountPath']}/definitions.json"
    assert mounts["definitions"]["readOnly"] is True
    assert volumes["definitions"]["emptyDir"]["medium"] == "Memory"
    assert "env" not in rabbitmq and "envFrom" not in rabbitmq


def test_the_definitions_hold_the_topology_the_services_declare(rendered):
    """The broker creates the topology before anyone connects, exactly as the services
    declare it (Topology.declare through AmqpBus, as on RabbitMQ 3): their own declarations
    then only confirm it, which needs no read permission on the queues of other roles."""
    channel = _RecordingChannel()
    bus = AmqpBus(None, channel, name_prefix_check=None, broker_major=3)  # type: ignore[arg-type]
    asyncio.run(Topology(prefix="gossipsim").declare(bus))
    assert rendered["exchanges"] == channel.exchanges
    assert rendered["queues"] == channel.queues
    assert sorted(rendered["bindings"], key=json.dumps) == sorted(channel.bindings, key=json.dumps)


@dataclass(frozen=True, slots=True)
class _Recorded:
    """An exchange or queue the recording channel declared (what AmqpBus binds with)."""

    name: str
    channel: _RecordingChannel

    async def bind(self, exchange: _Recorded, routing_key: str) -> None:
        self.channel.bindings.append(
            {"source": exchange.name, "vhost": "/", "destination": self.name}
            | {"destination_type": "queue", "routing_key": routing_key, "arguments": {}}
        )


class _RecordingChannel:
    """What AmqpBus asks of its channel, written down as RabbitMQ definitions entries."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.queues: list[dict[str, Any]] = []
        self.bindings: list[dict[str, Any]] = []

    async def declare_exchange(self, name: str, kind: Any, **options: Any) -> _Recorded:
        self.exchanges.append(
            {"name": name, "vhost": "/", "type": str(kind.value)}
            | {"durable": options.pop("durable", False), "auto_delete": False}
            | {"internal": False, "arguments": options.pop("arguments", None) or {}}
        )
        assert not options, options  # nothing else that a definition would have to say
        return _Recorded(name, self)

    async def declare_queue(self, name: str, **options: Any) -> _Recorded:
        self.queues.append(
            {"name": name, "vhost": "/", "durable": options.pop("durable", False)}
            | {"auto_delete": False, "arguments": options.pop("arguments", None) or {}}
        )
        assert not options, options
        return _Recorded(name, self)


def test_the_permissions_and_the_topology_follow_an_overlays_prefix(k8s_copy, tmp_path):
    overlay = k8s_copy / "combinations" / "prefix-lab"
    overlay.mkdir(parents=True, exist_ok=True)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": NAMESPACE,
                "resources": ["../../overlays/dev"],
                "configMapGenerator": [
                    {
                        "name": "gossipsim-config",
                        "behavior": "merge",
                        "literals": ["GOSSIPSIM_PREFIX=lab.x"],
                    }
                ],
            }
        )
    )
    objs = render(k8s_copy, "combinations/prefix-lab")
    assert gossipsim_config(objs)["GOSSIPSIM_PREFIX"] == "lab.x"
    definitions = broker_definitions(objs, tmp_path).definitions
    names = [e["name"] for e in definitions["exchanges"]] + [
        q["name"] for q in definitions["queues"]
    ]
    assert names and all(n.startswith("lab.x.") for n in names)
    assert {t["exchange"] for t in definitions["topic_permissions"]} == {
        f"lab.x.{e}" for e in EXCHANGES
    }
    assert may_publish(definitions, "client", "lab.x.commands", "simulation.submit")
    assert not may_publish(definitions, "client", "gossipsim.commands", "simulation.submit")
    assert may_read(definitions, "runner", "lab.x.runs")
    for name in ("labXx.runs", "lab.x.runs.extra", "gossipsim.runs", "x.lab.x.runs"):
        assert not may_read(definitions, "runner", name), name
    for permission in definitions["permissions"]:
        for what in ("configure", "write", "read"):
            regex = permission[what]
            assert regex in (".*", "^$") or regex.startswith("^lab[.]x\\."), regex


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"BROKER_RUNNER_PASSWORD": None}, "BROKER_RUNNER_PASSWORD"),
        ({"BROKER_CLIENT_PASSWORD": "short-secret"}, "BROKER_CLIENT_PASSWORD"),
        ({"BROKER_COLLECTOR_PASSWORD": "secret@with/url-characters"}, "BROKER_COLLECTOR_PASSWORD"),
        ({"RABBITMQ_DEFAULT_PASS": "a b c d e f g h i j k l m n"}, "RABBITMQ_DEFAULT_PASS"),
        ({"GOSSIPSIM_PREFIX": "a/b"}, "GOSSIPSIM_PREFIX"),
        ({"RABBITMQ_DEFAULT_USER": 'admin", "tags": "x'}, "RABBITMQ_DEFAULT_USER"),
    ],
)
def test_render_definitions_refuses_what_it_cannot_use_naming_only_the_key(
    k8s_base, tmp_path, change, named
):
    (init,) = pod_spec(find(k8s_base, "StatefulSet", "gossipsim-rabbitmq"))["initContainers"]
    env = container_environment(k8s_base, init)
    for key, value in change.items():
        if value is None:
            del env[key]
        else:
            env[key] = value
    config = K8S / "base" / "broker"
    output = tmp_path / "definitions.json"
    completed = subprocess.run(
        ["sh", str(config / "render-definitions.sh"), str(config / "definitions.template.json"),
         str(output)],
        env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert named in completed.stderr
    for value in change.values():
        if value:
            assert value not in completed.stderr + completed.stdout
    assert not output.exists()
