"""``gossipsim submit SPEC``: check a spec here as ``gossipsim run`` would, then publish it to a
deployment with its local graph files inline, and print the simulation id.

Checked here first, because a submission is answered asynchronously: a spec the scheduler
rejects would print an id and exit 0, and the reason would show only in ``gossipsim status``.
The check is the scheduler's own (:class:`~gossipsim.scheduler.spec_check.SpecChecker`, in a
thread as in embedded mode) with the spec file's folder as the base of relative paths, any
local file readable and ``{object: graphs/…}`` sources fetched from the deployment's store,
so an invalid spec is refused with the message ``gossipsim run`` prints for it, exit 2, and
nothing is published.

Local graph files then travel inline (:mod:`gossipsim.cli.inline_graphs`): a path means what
it means to ``gossipsim run``, and the services need no access to the user's files. The spec
as submitted is checked once more, with no local file readable at all, and must expand to the
very runs of the spec as written (the same ids and plans but for where the graph comes
from). It must also fit a message: the submission itself (8 MiB), and each run's
``run.start``, which carries its graph again and whose outcome repeats it.

The simulation id is derived from the spec as submitted: submitting the same file again (with
the same graph files) gives the same id and is one simulation; a changed graph file gives a
new simulation rather than a refusal of the id. For a spec without local files it is the id
``gossipsim run`` gives.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gossipsim.cli.deployment import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    CommandError,
    broker_error,
    reading_store,
    store_error,
)
from gossipsim.cli.spec_input import read_spec
from gossipsim.common.errors import InvalidInput

if TYPE_CHECKING:
    from gossipsim.common.graphs.inputs import GraphInputs
    from gossipsim.common.graphs.limits import GraphLimits
    from gossipsim.common.messaging.messages import SimulationSubmit
    from gossipsim.common.runtime.settings import ServiceSettings
    from gossipsim.common.spec.ids import RunId
    from gossipsim.common.spec.run_plan import RunPlan
    from gossipsim.scheduler.spec_check import SpecChecker

__all__ = ["add_submit_command", "command_submit"]

RUN_START_MARGIN = 16 * 1024
"""Bytes by which one graph's runs' run.start messages may differ from the one measured
(their algorithm, parameters and ids): each graph's is measured once, not every run's."""

_IN_THE_STORE = "the spec names graph objects, which are checked in the deployment's store"
_OBJECT_HINT = (
    "upload large graph files to the deployment's object store under graphs/ (GOSSIPSIM_STORE;"
    " for S3: aws s3 cp net.edgelist s3://BUCKET/PREFIX/graphs/net.edgelist) and name them in"
    " the spec as {object: graphs/net.edgelist}"
)


def add_submit_command(commands: Any) -> None:
    """``gossipsim submit`` on the command line's subcommands."""
    submit = commands.add_parser("submit", help="check a simulation here, then submit it")
    submit.add_argument("spec", help="simulation spec or seed Simulation resource")
    submit.add_argument(
        "--graphs", help="directory of seed Graph resources (read here and sent inline)"
    )
    submit.add_argument("--shards", type=int, help="node shards per run (overrides the spec)")
    submit.add_argument("--seed", type=int, help="simulation seed (overrides the spec)")
    submit.set_defaults(handler=command_submit)


def command_submit(args: argparse.Namespace) -> int:
    """Check the spec, publish simulation.submit with local graphs inline, print the id."""
    spec = read_spec(args)
    if spec is None:
        return EXIT_INVALID
    try:
        context = _Context.from_env(args)
    except ValueError as error:
        print(f"invalid setting: {error}", file=sys.stderr)
        return EXIT_INVALID
    try:
        message, warnings = asyncio.run(_prepare(spec, context))
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        asyncio.run(_publish(message, context.settings))
    except InvalidInput as error:  # what `gossipsim run` prints for the same spec
        print(f"invalid spec: {error}", file=sys.stderr)
        return EXIT_INVALID
    except CommandError as error:
        print(f"gossipsim submit: {error}", file=sys.stderr)
        return error.code
    print(message.simulation_id)
    return EXIT_OK


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    """Where the spec's paths start, what may be read, and the deployment's settings."""

    base_dir: Path
    graphs_dir: str  # as typed, like `gossipsim run`'s (errors name it so)
    inputs: GraphInputs
    limits: GraphLimits
    max_shards: int
    settings: ServiceSettings

    @classmethod
    def from_env(cls, args: argparse.Namespace) -> _Context:
        """ValueError for an invalid setting."""
        from gossipsim.common.runtime.settings import (
            ServiceSettings,
            graph_limits,
            local_graph_inputs,
            max_shards,
        )

        return cls(
            base_dir=Path(args.spec).resolve().parent,
            graphs_dir=str(Path(args.graphs)) if args.graphs else "",
            inputs=local_graph_inputs(os.environ),  # any local file, GOSSIPSIM_MAX_FILE_BYTES
            limits=graph_limits(os.environ),
            max_shards=max_shards(os.environ),
            settings=ServiceSettings.from_env(os.environ),
        )


# --- checking and inlining -------------------------------------------------------------------


async def _prepare(
    spec: dict[str, Any], context: _Context
) -> tuple[SimulationSubmit, tuple[str, ...]]:
    """The message to publish (the spec checked, its local graphs inline, and the result
    checked to run the same and to fit) and the check's warnings. :class:`InvalidInput` for
    an invalid spec, :class:`CommandError` for anything else that stops it."""
    from gossipsim.cli.inline_graphs import TooLargeToInline, inline_local_graphs
    from gossipsim.common.graphs.inputs import GraphInputs
    from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, SimulationSubmit
    from gossipsim.common.spec.simulation_spec import simulation_id_for
    from gossipsim.scheduler.spec_check import SpecChecker, SpecCheckSettings

    checker = SpecChecker(
        SpecCheckSettings(limits=context.limits, max_shards=context.max_shards, isolation="thread")
    )
    async with _with_graph_objects(spec, context) as inputs, _closing(checker):
        written = await checker.check(
            checker.request(
                spec, graphs_dir=context.graphs_dir, base_dir=context.base_dir, inputs=inputs
            )
        )
        try:
            inlined = await asyncio.to_thread(
                inline_local_graphs,
                spec,
                base_dir=context.base_dir,
                graphs_dir=Path(context.graphs_dir) if context.graphs_dir else None,
                inputs=inputs,
                limits=context.limits,
                max_bytes=MAX_MESSAGE_BYTES,
            )
        except TooLargeToInline as error:
            raise CommandError(f"{error}; {_OBJECT_HINT}", EXIT_INVALID) from None
        message = SimulationSubmit(spec=inlined.spec, simulation_id=simulation_id_for(inlined.spec))
        _check_message_fits(message)
        # as the services will see it: no local file at all, the same fetched objects
        no_files = GraphInputs(
            roots=(), max_file_bytes=inputs.max_file_bytes, objects=inputs.objects
        )
        submitted = await checker.check(checker.request(inlined.spec, inputs=no_files))
    _check_same_runs(written.plans, submitted.plans)
    _check_run_starts_fit(message, submitted.plans)
    return message, written.warnings


@asynccontextmanager
async def _closing(checker: SpecChecker) -> AsyncIterator[SpecChecker]:
    try:
        yield checker
    finally:
        await checker.close()


@asynccontextmanager
async def _with_graph_objects(
    spec: Mapping[str, Any], context: _Context
) -> AsyncIterator[GraphInputs]:
    """The local inputs, with the ``{object: graphs/…}`` sources of the spec fetched from the
    deployment's store (GOSSIPSIM_STORE), as the scheduler fetches them. The store is opened
    only for a spec that names objects; one that cannot be read is reported as such."""
    from gossipsim.common.storage.graph_objects import fetched_graph_inputs, graph_object_keys

    if not graph_object_keys(spec):
        yield context.inputs
        return
    async with AsyncExitStack() as stack:
        try:
            store = await stack.enter_async_context(reading_store(context.settings))
            inputs = await stack.enter_async_context(
                fetched_graph_inputs(spec, context.inputs, store)
            )
        except CommandError as error:  # no such store directory, an invalid S3 URL
            raise CommandError(f"{_IN_THE_STORE}: {error}", error.code) from None
        except OSError as error:
            raise CommandError(f"{_IN_THE_STORE}: {store_error(context.settings, error)}") from None
        yield inputs


def _check_same_runs(written: Mapping[RunId, RunPlan], submitted: Mapping[RunId, RunPlan]) -> None:
    """The spec as submitted must run exactly what the spec as written does, the graphs'
    sources apart: a difference is a bug here, and is refused rather than run."""
    same = written.keys() == submitted.keys() and all(
        dataclasses.replace(plan, graph=submitted[run_id].graph) == submitted[run_id]
        and plan.graph.name == submitted[run_id].graph.name
        for run_id, plan in written.items()
    )
    if not same:
        raise CommandError(
            "the spec with its graph files inline would not run what the spec says (a bug in"
            " gossipsim: please report it); nothing was submitted",
            EXIT_FAILED,
        )


def _check_message_fits(message: SimulationSubmit) -> None:
    """The submission must fit a message (the publisher would refuse it)."""
    from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, encode

    size = len(encode(message))
    if size > MAX_MESSAGE_BYTES:
        raise CommandError(
            f"the spec with its graph files inline takes {size:,} bytes, over the"
            f" {MAX_MESSAGE_BYTES:,} bytes a message may have"
            f" ({_largest_graphs(message.spec)}); {_OBJECT_HINT}",
            EXIT_INVALID,
        )


def _check_run_starts_fit(message: SimulationSubmit, plans: Mapping[RunId, RunPlan]) -> None:
    """Each run's run.start carries its graph again, and must fit what a runner accepts (its
    outcome repeats the plan): a little less than a message. Measured once per graph."""
    from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, RunStart, encode
    from gossipsim.runner.telemetry import part_budget

    budget = part_budget(MAX_MESSAGE_BYTES) - RUN_START_MARGIN
    simulation_id = message.simulation_id
    assert simulation_id is not None  # derived from the spec before
    measured: set[str] = set()
    for run_id, plan in plans.items():
        if plan.graph.name in measured:
            continue
        measured.add(plan.graph.name)
        size = len(encode(RunStart(simulation_id=simulation_id, run_id=run_id, plan=plan)))
        if size > budget:
            raise CommandError(
                f"graph {plan.graph.name!r} inline makes each of its runs' run.start a message"
                f" of {size:,} bytes, over the {budget:,} bytes a run's messages may carry (the"
                f" run's outcome repeats its plan); {_OBJECT_HINT}",
                EXIT_INVALID,
            )


def _largest_graphs(spec: Mapping[str, Any]) -> str:
    """The three largest graphs of the spec by their size inline, for the message."""
    graphs = spec.get("graphs")
    sizes = sorted(
        ((len(orjson.dumps(item)), str(item.get("name", f"graphs[{index}]")))
         for index, item in enumerate(graphs if isinstance(graphs, list) else [])
         if isinstance(item, Mapping)),
        reverse=True,
    )  # fmt: skip
    shown = ", ".join(f"{name!r} {size:,} bytes" for size, name in sizes[:3])
    return f"largest graphs: {shown}" if shown else "no graphs"


# --- publishing ------------------------------------------------------------------------------


async def _publish(message: SimulationSubmit, settings: ServiceSettings) -> None:
    """Publish ``message`` to the deployment's broker; :class:`CommandError` if it cannot."""
    import aiormq

    from gossipsim.common.messaging.publishing import publish_message
    from gossipsim.common.messaging.topology import TopologyMissing
    from gossipsim.common.runtime.connections import open_bus

    try:
        async with open_bus(settings) as (bus, topology):
            await publish_message(bus, topology, message)
    except TopologyMissing as error:  # GOSSIPSIM_DECLARE_TOPOLOGY=false on a bare broker
        raise CommandError(str(error)) from None
    except (OSError, aiormq.exceptions.AMQPError) as error:
        raise broker_error(settings, error) from None
