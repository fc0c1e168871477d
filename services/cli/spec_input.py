"""The spec a command reads: the file, with the command line's ``--shards`` and ``--seed``.

``gossipsim run`` and ``gossipsim submit`` read a spec the same way and print the same message
for one they cannot read, so a spec is refused in the same words by both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gossipsim.common.errors import InvalidInput
from gossipsim.common.spec.simulation_spec import load_spec_file

__all__ = ["read_spec"]


def read_spec(args: argparse.Namespace) -> dict[str, Any] | None:
    """The spec file with the command line's overrides, or None once the error is printed."""
    try:
        return _apply_overrides(load_spec_file(Path(args.spec)), args)
    except InvalidInput as error:
        print(f"invalid spec: {error}", file=sys.stderr)
        return None


def _apply_overrides(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``--shards`` and ``--seed`` over the spec's; in a seed Simulation, under ``gossipsim``."""
    overrides = {
        key: getattr(args, key) for key in ("shards", "seed") if getattr(args, key) is not None
    }
    if not overrides:
        return spec
    if spec.get("kind") == "Simulation":
        return {**spec, "gossipsim": {**spec.get("gossipsim", {}), **overrides}}
    return {**spec, **overrides}
