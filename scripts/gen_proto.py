"""Regenerate the node service's Python code from proto/ (``make proto``).

protoc names generated modules after the proto file's path, so the file lives at
``proto/gossipsim/common/rpc/node.proto`` and the code lands in ``services/common/rpc/``
(the ``gossipsim.common.rpc`` package). ``--check`` regenerates into a temporary directory and
fails if the committed files differ, which a test runs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO = Path("gossipsim/common/rpc/node.proto")
TARGET = ROOT / "services" / "common" / "rpc"
PLUGIN = Path(sys.executable).parent / "protoc-gen-grpclib_python"
GENERATED = ("node_pb2.py", "node_pb2.pyi", "node_grpc.py")


def generate(out: Path) -> None:
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT / 'proto'}",
            f"--plugin=protoc-gen-grpclib_python={PLUGIN}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpclib_python_out={out}",
            str(ROOT / "proto" / PROTO),
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        produced = Path(tmp) / PROTO.parent
        if args.check:
            stale = [
                name
                for name in GENERATED
                if not (TARGET / name).exists()
                or not filecmp.cmp(produced / name, TARGET / name, shallow=False)
            ]
            if stale:
                print(f"stale generated code: {', '.join(stale)}; run `make proto`")
                return 1
            return 0
        for name in GENERATED:
            shutil.copyfile(produced / name, TARGET / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
