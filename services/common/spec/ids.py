"""Simulation and run ids: checked where they are derived and in every message that brings one.

An id names a folder of the results layout (``simulations/<simulation>/runs/<run>/``) and a
status document, so it must be one harmless path segment: no ``/``, never ``.`` or ``..``,
nothing a shell or an object store treats specially. Each has a fixed alphabet:

* :data:`SimulationId` — lower-case letters, digits, ``.`` and ``-``, starting with a letter or
  a digit, at most 128 characters. The scheduler derives one from the spec's name and a digest
  (``ring-min-54fc0d78f2``), the Kubernetes watcher from the resource's namespace, name and uid
  (``default-sweep-0f3a9c21``); both normalise the name to this alphabet.
* :data:`RunId` — letters of either case, digits, ``.``, ``_``, ``=`` and ``-``, starting with a
  letter or a digit, at most 255 characters. A run id is made of the graph's name, the
  algorithm, its parameters and the repetition (``ba-200.weighted_factor.factor=2.5.r1``,
  ``g.betweenness_weighted.weightingParamA=0.5.r0``), so it needs ``_``, ``=`` and capitals,
  and with a long graph name it passes 128 characters; 255 is the longest file name common file
  systems allow.

The types are ``NewType``s: free at run time, and mypy keeps a bare string from passing for
an id. :func:`check_simulation_id` and :func:`check_run_id` are the only ways to make one from
text; message decoding calls them for every field typed with these ids.
"""

from __future__ import annotations

import re
from typing import NewType

from gossipsim.common.errors import InvalidInput

__all__ = [
    "MAX_RUN_ID_LENGTH",
    "MAX_SIMULATION_ID_LENGTH",
    "RUN_ID_PATTERN",
    "SIMULATION_ID_PATTERN",
    "RunId",
    "SimulationId",
    "check_run_id",
    "check_simulation_id",
]

SimulationId = NewType("SimulationId", str)
RunId = NewType("RunId", str)

MAX_SIMULATION_ID_LENGTH = 128
MAX_RUN_ID_LENGTH = 255
SIMULATION_ID_PATTERN = re.compile(rf"[a-z0-9][a-z0-9.-]{{0,{MAX_SIMULATION_ID_LENGTH - 1}}}")
RUN_ID_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._=-]{{0,{MAX_RUN_ID_LENGTH - 1}}}")


def _shown(text: object) -> str:
    """``text`` for an error message: its repr, cut short if an id that long was sent."""
    shown = repr(text)
    return shown if len(shown) <= 80 else f"{shown[:77]}..."


def check_simulation_id(text: object, field: str = "simulation_id") -> SimulationId:
    """``text`` as a :data:`SimulationId`, or :class:`InvalidInput` naming ``field``."""
    if not isinstance(text, str) or SIMULATION_ID_PATTERN.fullmatch(text) is None:
        raise InvalidInput(
            "must be lower-case letters, digits, '.' and '-', starting with a letter or a"
            f" digit, at most {MAX_SIMULATION_ID_LENGTH} characters; got {_shown(text)}",
            field=field,
        )
    return SimulationId(text)


def check_run_id(text: object, field: str = "run_id") -> RunId:
    """``text`` as a :data:`RunId`, or :class:`InvalidInput` naming ``field``."""
    if not isinstance(text, str) or RUN_ID_PATTERN.fullmatch(text) is None:
        raise InvalidInput(
            "must be letters, digits, '.', '_', '=' and '-', starting with a letter or a"
            f" digit, at most {MAX_RUN_ID_LENGTH} characters; got {_shown(text)}",
            field=field,
        )
    return RunId(text)
