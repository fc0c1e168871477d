"""The container image: its Dockerfile, and its install steps run for real.

No Docker engine exists where the tests run, so the Dockerfile keeps its install steps in
scripts/install_image.sh and this test runs that script as the build would: wheels from the
files the builder stage copies, then a fresh virtual environment installed from those wheels
alone, in which the CLI must start and the numba kernels' module must load. A step that breaks
fails here, in CI, as it would fail ``docker build``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.k8s.manifests import GOSSIPSIM_UID, REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _builder_copies() -> list[str]:
    """The sources the builder stage copies from the build context."""
    sources, stage = [], None
    for instruction, arguments in _instructions():
        if instruction == "FROM":
            stage = arguments.split()[-1]
        elif instruction == "COPY" and stage == "builder" and "--from" not in arguments:
            sources += arguments.split()[:-1]
    return sources


def test_dockerfile_builds_in_two_stages_and_runs_as_a_non_root_user():
    instructions = _instructions()
    stages = [args for name, args in instructions if name == "FROM"]
    assert stages == ["python:3.11-slim AS builder", "python:3.11-slim AS runtime"]
    runtime = instructions[instructions.index(("FROM", stages[1])) :]
    runs = [args for name, args in runtime if name == "RUN"]
    assert any("install_image.sh install /wheels" in run for run in runs)
    assert any("--mount=type=bind,from=builder,source=/wheels" in run for run in runs)
    assert any(f"--uid {GOSSIPSIM_UID}" in run for run in runs)
    builder = instructions[: instructions.index(("FROM", stages[1]))]
    assert ("RUN", "scripts/install_image.sh wheels /src /wheels") in builder
    assert ("USER", f"{GOSSIPSIM_UID}:{GOSSIPSIM_UID}") in runtime
    assert ("ENTRYPOINT", '["gossipsim"]') in runtime
    environment = " ".join(args for name, args in runtime if name == "ENV")
    assert "NUMBA_CACHE_DIR=/tmp/numba" in environment  # the pods' /tmp emptyDir
    assert "HOME=/tmp" in environment
    # nothing secret is baked in
    for name, args in instructions:
        if name in ("ENV", "ARG"):
            assert not re.search(r"(?i)pass|secret|token|key_id|access_key|broker_url", args)


def test_dockerignore_admits_what_the_build_copies_and_nothing_secret():
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything out, then what the build needs back in
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for source in _builder_copies():
        assert source.rstrip("/") in admitted, source
    assert not any(name.startswith(("k8s", ".venv", ".git", "results")) for name in admitted)


@pytest.mark.timeout(900)
def test_install_script_builds_an_environment_where_gossipsim_runs(tmp_path):
    """The image's two install steps, in a fresh virtual environment (pip's cache allowed)."""
    context = tmp_path / "context"
    for source in _builder_copies():
        origin = REPO / source
        target = context / source
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.nb?"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    script = context / "scripts" / "install_image.sh"
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    env = {**os.environ, "PYTHON": sys.executable}
    for step in (["wheels", str(context), str(wheels)], ["install", str(wheels), str(venv)]):
        completed = subprocess.run(
            [str(script), *step], capture_output=True, text=True, env=env, timeout=850
        )
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    assert any(wheels.glob("gossipsim-*.whl"))

    # as in a pod: only the image's environment, scratch in /tmp
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    pod_env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(scratch),
        "NUMBA_CACHE_DIR": str(scratch / "numba"),
    }

    def run(*args: str) -> str:
        completed = subprocess.run(
            args, capture_output=True, text=True, env=pod_env, cwd=scratch, timeout=300
        )
        assert completed.returncode == 0, f"{args}: {completed.stderr[-3000:]}"
        return completed.stdout

    assert "serve" in run(str(venv / "bin" / "gossipsim"), "--help")
    assert "{node,runner,scheduler,collector}" in run(
        str(venv / "bin" / "gossipsim"), "serve", "--help"
    )
    python = str(venv / "bin" / "python")
    location = run(python, "-c", "import gossipsim.node.kernels as k; print(k.__file__)")
    assert location.startswith(str(venv)), "imported from the source tree, not the image"
    run(python, "-m", "pip", "check")
    assert "pytest" not in run(python, "-m", "pip", "list")  # no dev extras in the image
