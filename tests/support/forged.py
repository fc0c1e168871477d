"""A run.start as anyone who can publish to the runs queue could write it, past the scheduler."""

from __future__ import annotations

from typing import Any

import orjson


def run_start_body(simulation_id: str, run_id: str, source: dict[str, Any], **fields: Any) -> bytes:
    """The JSON of a run.start of the seed's ``default`` protocol on the graph ``source``;
    ``fields`` are added to the message (a message_id, say)."""
    plan = {
        "graph": {"name": "forged", "source": source},
        "algorithm": {
            "name": "default",
            "rule": "min",
            "selection": "uniform",
            "memory": "none",
            "mode": "sequential",
            "order": "fixed",
        },
        "parameters": {},
        "repetition": 0,
        "seed": 0,
        "settings": {
            "max_rounds": 100,
            "until_converged": True,
            "epsilon": 1e-6,
            "initialization": "auto",
            "history_every": 0,
            "history_vertices": None,
            "shards": 1,
        },
    }
    body = {
        "kind": "run.start",
        "version": 1,
        "simulation_id": simulation_id,
        "run_id": run_id,
        "plan": plan,
        **fields,
    }
    return orjson.dumps(body)
