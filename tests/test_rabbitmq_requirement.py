"""One RabbitMQ requirement, said the same everywhere: the README, the docs and what k8s/ deploys.

The code needs quorum queues and the redelivery count they keep (``x-delivery-count``, which
the delivery limit reads: services/common/messaging/amqp_bus.py), both RabbitMQ 3.8 or later.
"""

from __future__ import annotations

import re

from tests.conftest import REPO

MINIMUM = (3, 8)
REQUIREMENT = re.compile(r"RabbitMQ\W{0,3}(?:must be\s)?\(?(\d+)\.(\d+) or later")
IMAGE = re.compile(r"image:\s*rabbitmq:(\d+)\.(\d+)")


def flattened(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_stated_requirement_names_the_same_version() -> None:
    found: dict[str, set[tuple[int, int]]] = {}
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for major, minor in REQUIREMENT.findall(flattened(path.read_text())):
            found.setdefault(path.name, set()).add((int(major), int(minor)))
    assert {"README.md", "kubernetes.md", "operations.md", "configuration.md"} <= set(found)
    assert {name: versions for name, versions in found.items() if versions != {MINIMUM}} == {}


def test_the_readme_recipe_says_it() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Beyond one process\n", 1)[1].split("\n## ", 1)[0]
    assert "RabbitMQ (3.8 or later)" in flattened(section)


def test_the_broker_kubernetes_deploys_meets_it() -> None:
    images = [
        (int(major), int(minor))
        for path in sorted((REPO / "k8s").rglob("*.yaml"))
        for major, minor in IMAGE.findall(path.read_text())
    ]
    assert images and all(version >= MINIMUM for version in images), images
