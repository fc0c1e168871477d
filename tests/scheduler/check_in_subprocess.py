"""Run the scheduler's spec check on one hostile input in a process with little memory to spare.

    python -m tests.scheduler.check_in_subprocess CASE.json

CASE is ``{"kind": …, "budget_bytes": …, "roots": [DIR, …] | null, …}``:

* ``spec``: ``{"spec": {…}}``, a spec as the scheduler receives it;
* ``spec_file``: ``{"path": FILE}``, read as ``gossipsim run`` and ``gossipsim submit`` read a
  spec file (:func:`load_spec_file`: YAML or JSON);
* ``message``: ``{"path": FILE}``, the bytes of a simulation.submit as it arrives over AMQP,
  decoded as the scheduler decodes it.

Everything the check needs is imported first; then the process measures its address space
(``VmSize``), caps ``RLIMIT_AS`` (soft and hard) at that baseline plus ``budget_bytes``, and
runs the check the scheduler's worker runs (:func:`check_spec`) under the services' default
limits. It prints one JSON line: ``outcome`` (``rejected``, ``accepted`` or ``crashed``),
``field``, ``reason``, ``seconds`` (the check's wall time) and ``limited`` (whether the cap
could be set).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs
from gossipsim.common.messaging.messages import SimulationSubmit, decode
from gossipsim.common.spec.simulation_spec import load_spec_file
from gossipsim.scheduler.spec_check import CheckRequest, check_spec, limit_address_space


def main(case: dict[str, Any]) -> dict[str, Any]:
    roots = case.get("roots")
    inputs = LOCAL_INPUTS if roots is None else GraphInputs(roots=tuple(map(Path, roots)))
    limited = limit_address_space(int(case["budget_bytes"])) is not None
    if limited:  # the hard limit too: nothing in the check can raise it again
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (soft, soft))
    started = time.perf_counter()
    try:
        spec = _read(case)
        checked = check_spec(CheckRequest(spec=spec, inputs=inputs))
    except InvalidInput as error:
        outcome = {"outcome": "rejected", "field": error.field, "reason": str(error)}
    except BaseException as error:  # what the test must see, MemoryError above all
        outcome = {"outcome": "crashed", "field": None, "reason": type(error).__name__}
    else:
        outcome = {"outcome": "accepted", "field": None, "reason": f"{len(checked.plans)} runs"}
    return {**outcome, "seconds": time.perf_counter() - started, "limited": limited}


def _read(case: dict[str, Any]) -> dict[str, Any]:
    """The spec the way the scheduler (or the command line) gets it from outside."""
    kind = case["kind"]
    if kind == "spec":
        spec: dict[str, Any] = case["spec"]
        return spec
    if kind == "spec_file":
        return load_spec_file(case["path"])
    if kind == "message":
        message = decode(Path(case["path"]).read_bytes())
        if not isinstance(message, SimulationSubmit):
            raise InvalidInput(f"not a simulation.submit: {message.kind}")
        return dict(message.spec)
    raise ValueError(f"unknown case kind {kind!r}")


if __name__ == "__main__":
    print(json.dumps(main(json.loads(Path(sys.argv[1]).read_text()))))
