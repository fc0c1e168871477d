"""The committed gRPC code is exactly what `make proto` generates from proto/."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_regenerating_the_node_service_code_changes_nothing():
    completed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_proto.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
