"""Security of the rendered manifests: what the issue asks of every pod, credentials, RBAC,
NetworkPolicies (evaluated pod to pod), and checkov's Kubernetes and Dockerfile checks.

checkov runs from its own virtual environment (scripts/checkov.sh; created on first use, about
two minutes), because it pins old networkx and boto3. Its skipped checks are listed with their
reasons in k8s/.checkov.yaml, or on the one resource they concern as a checkov.io/skip
annotation.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gossipsim.common.runtime.settings import ServiceSettings
from tests.k8s.manifests import (
    BROKER_URL_TEMPLATE,
    K8S,
    NAMESPACE,
    RENDERS,
    REPO,
    SERVICES,
    NetworkPolicies,
    Obj,
    Peer,
    containers,
    env_of,
    find,
    gossipsim_config,
    ident,
    lockdown_problems,
    pod_labels,
    secrets_example,
    workloads,
)


def test_namespace_enforces_the_restricted_pod_security_standard(k8s_base):
    labels = find(k8s_base, "Namespace", NAMESPACE)["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


@pytest.mark.parametrize("name", RENDERS)
def test_every_container_is_locked_down(k8s_renders, name):
    problems = []
    for obj, spec in workloads(k8s_renders[name]):
        problems += lockdown_problems(obj, spec)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", RENDERS)
def test_services_probe_their_health_endpoints_and_nodes_grpc(k8s_renders, name):
    objs = k8s_renders[name]
    port = int(gossipsim_config(objs)["GOSSIPSIM_HEALTH_PORT"])
    for obj, spec in workloads(objs):
        component = pod_labels(obj).get("app.kubernetes.io/component")
        (container,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        if component in SERVICES:
            assert container["args"] == ["serve", component]
            assert ports["health"] == port
            for probe, path in (
                ("startupProbe", "/healthz"),
                ("livenessProbe", "/healthz"),
                ("readinessProbe", "/readyz"),
            ):
                assert container[probe]["httpGet"] == {"path": path, "port": "health"}, probe
        elif component == "node":
            assert container["args"] == ["serve", "node"]
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["grpc"] == {"port": 50051}


def test_services_that_are_probed_serve_health_endpoints():
    """Each service whose pod is probed on /healthz starts the endpoints (open_bus health_of)."""
    for service in SERVICES:
        main = (REPO / "services" / service / "main.py").read_text()
        assert f'health_of="{service}"' in main, f"{service} serves no /healthz for its probes"


def test_termination_grace_fits_how_each_service_drains(k8s_base):
    drain = ServiceSettings.from_env({}).drain_seconds
    for obj, spec in workloads(k8s_base):
        component = pod_labels(obj)["app.kubernetes.io/component"]
        grace = spec["terminationGracePeriodSeconds"]
        if component == "runner":
            (runner,) = spec["containers"]
            runner_drain = float(env_of(runner)["GOSSIPSIM_DRAIN_SECONDS"]["value"])
            assert runner_drain == drain
            assert runner_drain + 15 <= grace <= runner_drain + 60
        else:
            assert 30 <= grace <= 60, ident(obj)


_CREDENTIAL_NAME = re.compile(r"PASS|SECRET|TOKEN|ACCESS_KEY|BROKER_URL|ROOT_USER|DEFAULT_USER")


@pytest.mark.parametrize("name", RENDERS)
def test_credentials_come_only_from_the_generated_secret(k8s_renders, name, k8s_copy):
    objs = k8s_renders[name]
    example = secrets_example()
    secrets = [o for o in objs if o["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == ["gossipsim-secrets"]
    assert set(secrets[0]["data"]) == set(example)
    for obj, spec in workloads(objs):
        for container in containers(spec):
            for item in container.get("env", []):
                if item["name"] == "GOSSIPSIM_BROKER_URL" and "value" in item:
                    # composed from the role's password (test_broker_users.py)
                    assert item["value"] == BROKER_URL_TEMPLATE, ident(obj)
                elif _CREDENTIAL_NAME.search(item["name"]):
                    ref = item.get("valueFrom", {}).get("secretKeyRef")
                    assert ref, f"{ident(obj)}: {item['name']} is not from a Secret"
                    assert ref["name"] == "gossipsim-secrets" and ref["key"] in example
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, "envFrom a Secret would expose every key"
    for key, value in gossipsim_config(objs).items():
        assert not _CREDENTIAL_NAME.search(key), key
        assert "@" not in value, f"{key} holds what looks like credentials"


def test_no_credentials_are_tracked_in_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files", "k8s", "Dockerfile", ".dockerignore", "docs"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    ours = {str(p.relative_to(REPO)) for p in K8S.rglob("*") if p.is_file()}
    ours |= {"Dockerfile", ".dockerignore", "docs/kubernetes.md"}
    in_url = re.compile(r"\w+://[^\s/:@]+:[^\s/@]+@")  # user:password@ in a URL
    # RabbitMQ's built-in guest account, which answers only on localhost, is the documented
    # default broker URL of a laptop install (docs/operations.md): not a credential.
    local_default = re.compile(r"amqp://guest:guest@(localhost|127\.0\.0\.1)[:/]")
    assignment = re.compile(r"(?i)(password|secret_access_key|_pass)\s*[:=]\s*['\"]?[A-Za-z0-9]")
    for name in sorted(set(tracked) | ours):
        path = REPO / name
        if name.endswith("secrets.env") or not path.is_file():
            continue  # the generated, ignored file
        text = path.read_text(errors="replace")
        for line in text.splitlines():
            if "<" in line or "$" in line:
                continue  # placeholders (<password>) and shell variables in docs
            assert not in_url.search(local_default.sub("", line)), f"{name}: {line.strip()}"
            assert not assignment.search(line), f"{name}: {line.strip()}"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "k8s/base/secrets.env"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0, "k8s/base/secrets.env must be in .gitignore"


def _pairs(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


_ROLE_PASSWORDS = [f"BROKER_{role}_PASSWORD" for role in ("SCHEDULER", "RUNNER", "COLLECTOR",
                                                           "CLIENT", "MONITOR")]  # fmt: skip


def test_make_k8s_secrets_writes_fresh_complete_credentials(tmp_path):
    script = REPO / "scripts" / "make_k8s_secrets.sh"
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    for path in (first, second):
        subprocess.run([str(script), str(path)], check=True, capture_output=True)
    values = []
    for path in (first, second):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        pairs = _pairs(path)
        assert set(pairs) == set(secrets_example()) and all(pairs.values())
        passwords = [pairs[key] for key in ("RABBITMQ_DEFAULT_PASS", *_ROLE_PASSWORDS)]
        assert len(set(passwords)) == len(passwords)  # one per user
        assert all(re.fullmatch(r"[0-9a-f]{64}", password) for password in passwords)
        assert pairs["BROKER_MONITOR_URL"] == (
            f"amqp://gossipsim-monitor:{pairs['BROKER_MONITOR_PASSWORD']}"
            "@gossipsim-rabbitmq.gossipsim.svc:5672/"
        )
        assert pairs["AWS_SECRET_ACCESS_KEY"] == pairs["MINIO_ROOT_PASSWORD"]
        assert len(pairs["MINIO_ROOT_PASSWORD"]) >= 32
        values.append(pairs)
    assert values[0]["BROKER_CLIENT_PASSWORD"] != values[1]["BROKER_CLIENT_PASSWORD"]
    before = first.read_text()
    kept = subprocess.run([str(script), str(first)], capture_output=True, text=True, check=True)
    assert first.read_text() == before and "keeping it" in kept.stderr
    subprocess.run([str(script), "--force", str(first)], check=True, capture_output=True)
    assert first.read_text() != before


def test_make_k8s_secrets_completes_a_file_from_before_the_broker_users(tmp_path):
    """An existing deployment keeps its values (MinIO keeps its root account) and gets the
    keys it lacks; the single broker URL it had is named as unused."""
    script = REPO / "scripts" / "make_k8s_secrets.sh"
    old = {
        "RABBITMQ_DEFAULT_USER": "gossipsim",
        "RABBITMQ_DEFAULT_PASS": "f" * 64,
        "GOSSIPSIM_BROKER_URL": f"amqp://gossipsim:{'f' * 64}@gossipsim-rabbitmq:5672/",
        "MINIO_ROOT_USER": "gossipsim-0123456789abcdef",
        "MINIO_ROOT_PASSWORD": "e" * 64,
        "AWS_ACCESS_KEY_ID": "gossipsim-0123456789abcdef",
        "AWS_SECRET_ACCESS_KEY": "e" * 64,
    }
    path = tmp_path / "secrets.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in old.items()).rstrip("\n"))  # no last \n
    done = subprocess.run([str(script), str(path)], capture_output=True, text=True, check=True)
    pairs = _pairs(path)
    assert {k: pairs[k] for k in old} == old
    assert set(pairs) == set(secrets_example()) | {"GOSSIPSIM_BROKER_URL"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", pairs[key]) for key in _ROLE_PASSWORDS)
    assert pairs["BROKER_MONITOR_PASSWORD"] in pairs["BROKER_MONITOR_URL"]
    assert "GOSSIPSIM_BROKER_URL is no longer used" in done.stderr
    assert "f" * 64 not in done.stderr  # names keys, never values
    again = path.read_text()
    subprocess.run([str(script), str(path)], capture_output=True, check=True)
    assert path.read_text() == again


_EXPECTED_RULES = {
    "gossipsim-scheduler": [
        (["gossipsim.io"], ["gossipsimulations"], ["get", "list", "watch", "patch", "update"]),
        (["gossipsim.io"], ["gossipsimulations/status"], ["get", "patch", "update"]),
        (["gossipsim.io"], ["gossipsimulations/finalizers"], ["update"]),
        (["gossip.io"], ["graphs", "simulations"], ["get", "list", "watch", "patch"]),
        (["gossip.io"], ["simulations/status"], ["patch"]),
    ],
    "gossipsim-runner": [
        ([""], ["pods", "services"], ["create", "delete", "get", "list", "watch"]),
        ([""], ["pods/status"], ["get"]),
        (["networking.k8s.io"], ["networkpolicies"], ["create", "delete", "get", "list"]),
    ],
}


@pytest.mark.parametrize("name", RENDERS)
def test_rbac_is_least_privilege(k8s_renders, name):
    objs = k8s_renders[name]
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Role"}
    assert set(roles) == set(_EXPECTED_RULES)
    for role, expected in _EXPECTED_RULES.items():
        rules = [(r["apiGroups"], r["resources"], r["verbs"]) for r in roles[role]["rules"]]
        assert rules == expected, role
    for binding in (o for o in objs if o["kind"] == "RoleBinding"):
        (subject,) = binding["subjects"]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": binding["metadata"]["name"],
        }
        assert subject == {
            "kind": "ServiceAccount",
            "name": binding["metadata"]["name"],
            "namespace": NAMESPACE,
        }


@pytest.mark.parametrize("name", RENDERS)
def test_only_the_scheduler_and_runner_hold_an_api_token(k8s_renders, name):
    objs = k8s_renders[name]
    accounts = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ServiceAccount"}
    assert accounts["default"]["automountServiceAccountToken"] is False
    for obj, spec in workloads(objs):
        component = pod_labels(obj)["app.kubernetes.io/component"]
        account = spec.get("serviceAccountName")
        assert account in accounts and account != "default", ident(obj)
        with_token = component in ("scheduler", "runner")
        assert spec["automountServiceAccountToken"] is with_token, ident(obj)
        assert accounts[account].get("automountServiceAccountToken", True) is with_token


def _variables_read_by_the_services() -> str:
    return "\n".join(p.read_text() for p in (REPO / "services").rglob("*.py"))


@pytest.mark.parametrize("name", RENDERS)
def test_every_setting_given_is_one_the_services_read(k8s_renders, name):
    """A misspelt variable would be silently ignored: each must occur in services/."""
    source = _variables_read_by_the_services()
    objs = k8s_renders[name]
    names = set(gossipsim_config(objs))
    for _, spec in workloads(objs):
        for container in containers(spec):
            names |= set(env_of(container))
    for variable in sorted(n for n in names if n.startswith("GOSSIPSIM_")):
        assert f'"{variable}"' in source, f"{variable} is read by no service"


def test_rabbitmq_consumer_timeout_outlasts_the_runners_early_ack(k8s_base):
    name = _name_of(k8s_base, "ConfigMap", "gossipsim-rabbitmq-config")
    config = find(k8s_base, "ConfigMap", name)
    parser = configparser.ConfigParser()
    parser.read_string("[rabbitmq]\n" + config["data"]["rabbitmq.conf"])
    timeout_ms = int(parser["rabbitmq"]["consumer_timeout"])
    ack_after = ServiceSettings.from_env({}).run_ack_after
    assert timeout_ms >= 2 * ack_after * 1000
    (rabbitmq,) = find(k8s_base, "StatefulSet", "gossipsim-rabbitmq")["spec"]["template"]["spec"][
        "containers"
    ]
    assert re.fullmatch(r"rabbitmq:3\.1[2-9](\.\d+)?-management", rabbitmq["image"])
    mounts = {m["mountPath"]: m for m in rabbitmq["volumeMounts"]}
    assert mounts["/etc/rabbitmq/conf.d/20-gossipsim.conf"]["subPath"] == "rabbitmq.conf"


def _name_of(objs: list[Obj], kind: str, prefix: str) -> str:
    (name,) = [
        o["metadata"]["name"]
        for o in objs
        if o["kind"] == kind and o["metadata"]["name"].startswith(prefix)
    ]
    return name


# NetworkPolicy: which pod may connect to which, on the ports pods listen on.
_PORTS = (5672, 15672, 9000, 9001, 50051, 8080)
_BASE_PATHS = {
    ("scheduler", "broker", 5672),
    ("runner", "broker", 5672),
    ("collector", "broker", 5672),
    ("scheduler", "store", 9000),
    ("collector", "store", 9000),
    ("runner", "store", 9000),  # {object: graphs/…} graph sources
    ("runner", "node", 50051),
}


def _pods(objs: list[Obj]) -> list[Peer]:
    pods = [Peer(ident(obj), pod_labels(obj)) for obj, _ in workloads(objs)]
    # a node pod as the runner's launcher labels it (services/runner/kubernetes_launcher.py)
    node = {
        "app.kubernetes.io/name": "gossipsim",
        "app.kubernetes.io/component": "node",
        "gossipsim.io/run": "some-run",
    }
    return [*pods, Peer("launched node", node)]


def _paths(objs: list[Obj]) -> set[tuple[str, str, int]]:
    policies = NetworkPolicies(objs)
    pods = _pods(objs)
    found = set()
    for source in pods:
        for target in pods:
            for port in _PORTS:
                if policies.allows(source, target, port):  # itself: another replica
                    found.add(
                        (
                            source.labels["app.kubernetes.io/component"],
                            target.labels["app.kubernetes.io/component"],
                            port,
                        )
                    )
    return found


_API_CLIENTS = {"scheduler", "runner"}


@pytest.mark.parametrize(
    ("name", "extra", "missing", "https"),
    [
        ("base", set(), set(), _API_CLIENTS),
        ("dev", set(), set(), _API_CLIENTS),
        ("keda", set(), set(), _API_CLIENTS),
        ("static-nodes", {("node", "node", 50051)}, set(), _API_CLIENTS),  # the pool's own
        (
            "external-services",
            set(),
            {p for p in _BASE_PATHS if p[1] in ("broker", "store")},
            set(SERVICES),  # S3 over HTTPS for the collector too
        ),
    ],
)
def test_network_paths_between_pods_are_exactly_the_needed_ones(
    k8s_renders, name, extra, missing, https
):
    objs = k8s_renders[name]
    assert _paths(objs) == (_BASE_PATHS | extra) - missing
    policies = NetworkPolicies(objs)
    dns = Peer("coredns", {"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"})
    outside = Peer("apiserver", {}, {"kubernetes.io/metadata.name": "default"})
    for pod in _pods(objs):
        component = pod.labels["app.kubernetes.io/component"]
        assert policies.allows(pod, dns, 53, "UDP") and policies.allows(pod, dns, 53, "TCP")
        assert policies.allows(pod, outside, 443) is (component in https)
        assert policies.allows(pod, outside, 6443) is (component in _API_CLIENTS)
        assert not policies.allows(pod, outside, 80)


def test_static_pool_nodes_do_not_reach_launched_nodes(k8s_renders):
    objs = k8s_renders["static-nodes"]
    policies = NetworkPolicies(objs)
    (static,) = [p for p in _pods(objs) if p.labels.get("gossipsim.io/pool") == "static"]
    launched = _pods(objs)[-1]
    assert policies.allows(static, static, 50051)
    assert not policies.allows(static, launched, 50051)
    assert not policies.allows(launched, static, 50051)


def test_keda_reads_the_queue_but_nothing_else_from_outside(k8s_renders):
    objs = k8s_renders["keda"]
    policies = NetworkPolicies(objs)
    keda = Peer("keda-operator", {"app": "keda-operator"}, {"kubernetes.io/metadata.name": "keda"})
    for pod in _pods(objs):
        component = pod.labels["app.kubernetes.io/component"]
        for port in _PORTS:
            assert policies.allows(keda, pod, port) is (component == "broker" and port == 5672)


@pytest.mark.timeout(900)  # the first run creates checkov's own environment (about 2 minutes)
def test_checkov_finds_nothing_in_the_manifests_and_the_dockerfile(k8s_renders, tmp_path):
    scan = tmp_path / "scan"
    scan.mkdir()
    for name, objs in k8s_renders.items():
        (scan / f"{name}.yaml").write_text(yaml.safe_dump_all(objs, sort_keys=False))
    (scan / "Dockerfile").write_text((REPO / "Dockerfile").read_text())
    completed = subprocess.run(
        [
            str(REPO / "scripts" / "checkov.sh"),
            "--config-file", str(K8S / ".checkov.yaml"),
            "--directory", str(scan),
            "--output", "json",
            "--quiet",
        ],
        capture_output=True, text=True, check=False, timeout=880,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    assert completed.stdout.strip(), completed.stderr[-3000:]
    reports = json.loads(completed.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    failures = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({Path(c['file_path']).name})"
        for report in reports
        for c in report["results"]["failed_checks"]
    ]
    assert not failures, "\n".join(failures)
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0
        assert report["summary"]["passed"] > 0
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_every_skipped_checkov_check_is_justified(k8s_base):
    lines = (K8S / ".checkov.yaml").read_text().splitlines()
    skips = [line for line in lines if re.match(r"\s+- CKV", line)]
    assert skips
    for line in skips:
        check, _, reason = line.partition("#")
        assert re.fullmatch(r"\s+- CKV2?_[A-Z0-9]+_\d+\s*", check), line
        assert len(reason.strip()) > 30, f"no justification: {line}"
    config = yaml.safe_load("\n".join(lines))
    assert len(config["skip-check"]) == len(skips)
    for obj in k8s_base:
        for key, value in (obj["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check), value
                assert len(reason) > 30, f"{ident(obj)}: no justification for {check}"
