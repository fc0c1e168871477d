"""The hostile-input suite: crafted specs, forged messages and direct gRPC calls.

Every test runs with a canary secret in the environment of the processes it drives (the
variables a real deployment keeps secrets in: the S3 secret key, and one of its own) and
asserts the canary appears in no output: no exit message, log line, event, dead letter,
status document or result file. A leak through any error path fails the suite.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path

import pytest

CANARY = f"canary-{secrets.token_hex(8)}"
CANARY_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "GOSSIPSIM_TEST_CANARY")


def canary_env() -> dict[str, str]:
    return dict.fromkeys(CANARY_VARIABLES, CANARY)


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    """The canary, set in this process's environment (and so in every child's that inherits it)."""
    for name, value in canary_env().items():
        monkeypatch.setenv(name, value)
    return CANARY


def assert_no_canary(texts: Iterable[str] = (), directories: Iterable[Path] = ()) -> None:
    """The canary is in none of ``texts`` and in no file under ``directories``."""
    for text in texts:
        assert CANARY not in text, "the canary secret leaked into an output"
    for directory in directories:
        for path in Path(directory).rglob("*"):
            if path.is_file():
                assert CANARY.encode() not in path.read_bytes(), f"the canary leaked into {path}"
