"""Fixtures of the manifest tests: k8s/ rendered once per session, in a copy with credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.k8s.manifests import Obj, crd_versions, prepare_copy, render_all


@pytest.fixture(scope="session")
def k8s_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_copy(tmp_path_factory.mktemp("k8s"))


@pytest.fixture(scope="session")
def k8s_renders(k8s_copy: Path) -> dict[str, list[Obj]]:
    return render_all(k8s_copy)


@pytest.fixture(scope="session")
def k8s_base(k8s_renders: dict[str, list[Obj]]) -> list[Obj]:
    return k8s_renders["base"]


@pytest.fixture(scope="session")
def k8s_crds(k8s_base: list[Obj]) -> dict[tuple[str, str], Any]:
    return crd_versions(k8s_base)
