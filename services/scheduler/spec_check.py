"""The scheduler's check of a submitted spec: off the event loop, within a time and a memory budget.

Checking a spec builds every graph it names (:func:`~gossipsim.common.spec.simulation_spec.
parse_spec`) and expands it into run plans (:func:`~gossipsim.common.spec.simulation_spec.
expand_runs`). A spec comes from anyone who may publish ``simulation.submit`` or create a custom
resource, and the size estimates of :mod:`gossipsim.common.graphs` refuse what they can foresee;
this module bounds what they cannot, so that no spec can stall or exhaust the scheduler:

* **Off the event loop.** On the loop, a check of many seconds stopped the scheduler's other
  events and its ``/healthz`` (Kubernetes then restarted it, and the spec came back). In the
  services the check runs in a worker process (a single-worker :class:`ProcessPoolExecutor`,
  started with ``forkserver`` where the platform has it, else ``spawn``, and kept warm between
  checks); in embedded mode (``gossipsim run``, the user's own machine) a daemon thread is
  enough, and does not keep the command from exiting. :attr:`SpecCheckSettings.isolation`.
* **A time budget** (``GOSSIPSIM_CHECK_SECONDS``): a check past it is rejected, and its worker
  killed and replaced, so the next spec is checked by a fresh one.
* **A memory budget** (``GOSSIPSIM_CHECK_MEMORY_BYTES``): the worker's address space is capped
  at its baseline (measured once its modules are imported) plus the budget, so a check that
  needs more gets a MemoryError and the spec is rejected; the worker is then replaced, since
  a failed allocation can leave its heap in pieces. A worker that crashes (killed by the
  kernel, a library that aborts) rejects the spec as well: never the scheduler.

One check runs at a time (checks queue on a lock, and the time budget counts from the start of
each), so a spec cannot be starved of its budget by the one before it. What crosses to the
worker and back is plain picklable data: the :class:`CheckRequest` and a :class:`CheckedSpec`
(the spec's name and its run plans) or a refusal. Rejections name the field where the spec
check does; a budget's rejection has none (it is the spec as a whole) but names the setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog

from gossipsim.common.errors import InvalidInput, SpecProblems
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.runtime.memory import release_free_memory
from gossipsim.common.runtime.variables import CHECK_SECONDS
from gossipsim.common.spec.ids import RunId
from gossipsim.common.spec.run_plan import DEFAULT_MAX_SHARDS
from gossipsim.common.spec.simulation_spec import RunPlan, expand_runs, parse_spec

__all__ = [
    "CheckRequest",
    "CheckedSpec",
    "SpecCheckSettings",
    "SpecChecker",
    "check_spec",
    "limit_address_space",
]

log = structlog.get_logger(__name__)

Isolation = Literal["process", "thread"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecCheckSettings:
    """How the scheduler checks a spec: the deployment's limits and the check's budgets."""

    limits: GraphLimits = DEFAULT_LIMITS  # memory_bytes is also the check's memory budget
    max_shards: int = DEFAULT_MAX_SHARDS
    seconds: float = CHECK_SECONDS
    # "thread": embedded mode (the machine is the user's own): the time budget and the size
    # estimates apply, the address-space cap does not
    isolation: Isolation = "process"

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds!r}")
        if self.isolation not in ("process", "thread"):
            raise ValueError(f"isolation must be 'process' or 'thread', got {self.isolation!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRequest:
    """One spec to check, with everything the check needs: picklable, for the worker."""

    spec: dict[str, Any]
    graphs_dir: str = ""  # where a seed Simulation's Graph resources are ("" for none)
    base_dir: Path | None = None  # where relative paths of a native spec start
    inputs: GraphInputs = LOCAL_INPUTS  # which graph files may be read, and fetched objects
    limits: GraphLimits = DEFAULT_LIMITS
    max_shards: int = DEFAULT_MAX_SHARDS


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedSpec:
    """An accepted spec: its name, its runs by id, and what its submitter should know."""

    name: str
    plans: dict[RunId, RunPlan] = field(repr=False)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Refused:
    """A rejection as plain data: InvalidInput itself does not survive pickling (its
    ``field`` is keyword-only)."""

    message: str
    field: str | None
    replace_worker: bool = False  # after a MemoryError: the worker's heap may be in pieces
    more: tuple[tuple[str, str | None], ...] = ()  # the other problems, of a SpecProblems

    @classmethod
    def of(cls, error: InvalidInput) -> _Refused:
        problems = error.problems if isinstance(error, SpecProblems) else (error,)
        first, *others = ((_without_field(p), p.field) for p in problems)
        return cls(first[0], first[1], more=tuple(others))

    def error(self) -> InvalidInput:
        first = InvalidInput(self.message, field=self.field)
        if not self.more:
            return first
        return SpecProblems([first, *(InvalidInput(m, field=f) for m, f in self.more)])


_Outcome = CheckedSpec | _Refused


def check_spec(request: CheckRequest) -> CheckedSpec:
    """The check itself, in the calling thread: parse the spec, build and drop each graph,
    expand the runs. :class:`InvalidInput` naming the field if the spec is refused."""
    parsed = parse_spec(
        request.spec,
        base_dir=request.base_dir,
        graphs_dir=Path(request.graphs_dir) if request.graphs_dir else None,
        limits=request.limits,
        inputs=request.inputs,
        max_shards=request.max_shards,
    )
    return CheckedSpec(name=parsed.name, plans=expand_runs(parsed), warnings=parsed.warnings)


class SpecChecker:
    """Checks specs one at a time within the budgets of :class:`SpecCheckSettings`."""

    def __init__(self, settings: SpecCheckSettings = SpecCheckSettings()) -> None:
        self._settings = settings
        self._lock = asyncio.Lock()
        self._pool: ProcessPoolExecutor | None = None

    @property
    def settings(self) -> SpecCheckSettings:
        return self._settings

    def request(
        self,
        spec: dict[str, Any],
        *,
        graphs_dir: str = "",
        base_dir: Path | None = None,
        inputs: GraphInputs = LOCAL_INPUTS,
    ) -> CheckRequest:
        """A request for ``spec`` under this checker's limits."""
        return CheckRequest(
            spec=spec,
            graphs_dir=graphs_dir,
            base_dir=base_dir,
            inputs=inputs,
            limits=self._settings.limits,
            max_shards=self._settings.max_shards,
        )

    async def start(self) -> None:
        """Start the worker now rather than in the first check (process isolation)."""
        if self._settings.isolation == "process":
            async with self._lock:
                future = await self._submit(_ready)
                await asyncio.wait_for(asyncio.wrap_future(future), self._settings.seconds)

    async def close(self) -> None:
        async with self._lock:
            await self._discard_worker()

    async def check(self, request: CheckRequest) -> CheckedSpec:
        """The checked spec, or :class:`InvalidInput` (the spec's own fault, or a budget)."""
        async with self._lock:
            if self._settings.isolation == "thread":
                outcome = await self._in_thread(request)
            else:
                outcome = await self._in_worker(request)
        if isinstance(outcome, _Refused):
            raise outcome.error()
        return outcome

    # -- process isolation -------------------------------------------------------------------

    def _worker(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context(_start_method())
            if context.get_start_method() == "forkserver":
                # the server imports the check's modules once; each worker is forked from it
                context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self._settings.limits.memory_bytes, os.getpid()),
            )
        return self._pool

    async def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """Hand ``function`` to the worker. Submitting may start the worker, and starting the
        forkserver waits for it to import the check's modules (a second or so): not on the
        loop."""
        pool = self._worker()
        return await asyncio.to_thread(pool.submit, function, *args)

    async def _in_worker(self, request: CheckRequest) -> _Outcome:
        seconds = self._settings.seconds
        try:
            future = await self._submit(_check_in_worker, request)
            outcome: _Outcome = await asyncio.wait_for(asyncio.wrap_future(future), seconds)
        except TimeoutError:
            log.warning("spec check over its time budget: worker replaced", seconds=seconds)
            await self._discard_worker()
            return _Refused(_over_time(seconds), None)
        except BrokenProcessPool:
            log.warning("spec check worker ended unexpectedly: replaced")
            await self._discard_worker()
            return _Refused(
                "the check stopped: the process checking the spec ended unexpectedly (most"
                " likely out of memory: a graph too large to build within"
                f" {_mib(self._settings.limits.memory_bytes)} MiB,"
                " GOSSIPSIM_CHECK_MEMORY_BYTES); make the graphs smaller",
                None,
            )
        if isinstance(outcome, _Refused) and outcome.replace_worker:
            await self._discard_worker()
        return outcome

    async def _discard_worker(self) -> None:
        """Kill the worker (it may be mid-check) and forget its pool; the next check starts
        a fresh one."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # the pool's own processes: killing them is the only way to stop a running task
        processes = list(pool._processes.values())
        for process in processes:
            with contextlib.suppress(OSError):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            await asyncio.to_thread(process.join, 10)

    # -- thread isolation --------------------------------------------------------------------

    async def _in_thread(self, request: CheckRequest) -> _Outcome:
        """The check in a daemon thread: it cannot be stopped, so on timeout it is left to
        finish on its own, and it keeps no process from exiting."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[_Outcome] = loop.create_future()

        def settle(deliver: Callable[[], None]) -> None:
            if not result.done():
                deliver()

        def work() -> None:
            try:
                outcome = _check_outcome(request, memory_bytes=request.limits.memory_bytes)
            except BaseException as error:  # handed to the awaiting task
                failure = error
                _call_soon(loop, lambda: settle(lambda: result.set_exception(failure)))
            else:
                _call_soon(loop, lambda: settle(lambda: result.set_result(outcome)))

        threading.Thread(target=work, name="spec-check", daemon=True).start()
        seconds = self._settings.seconds
        try:
            return await asyncio.wait_for(result, seconds)
        except TimeoutError:
            log.warning("spec check over its time budget (left to finish)", seconds=seconds)
            return _Refused(_over_time(seconds), None)


# --- in the worker -------------------------------------------------------------------------

_memory_budget = 0
"""The worker's budget, for its refusal message (set by :func:`_start_worker`)."""

_PARENT_POLL_SECONDS = 1.0


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _start_worker(memory_bytes: int, scheduler_pid: int) -> None:
    """Initializer of the worker: follow the scheduler's life, load what a check imports,
    then cap the address space at the baseline (with that thread and those modules) plus the
    budget. scipy's sparse graph search (the connectivity check) is imported here because
    importing it under the cap can take the budget (its BLAS reserves address space per
    thread) and stall the worker."""
    global _memory_budget
    _memory_budget = memory_bytes
    _exit_with(scheduler_pid)
    import scipy.sparse.csgraph  # noqa: F401

    limit_address_space(memory_bytes)


def _exit_with(pid: int) -> None:
    """Exit once process ``pid`` is gone. A pool's worker would otherwise outlive a scheduler
    that was killed: it waits on its call queue, whose write end it holds itself, and it
    keeps the forkserver alive with it."""
    watching = threading.Event()

    def watch() -> None:
        watching.set()
        while _alive(pid):
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-scheduler", daemon=True).start()
    watching.wait()  # running before the baseline is measured: its stack counts in it


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: not gone, and not a zombie waiting to be reaped (a killed
    scheduler stays one until its parent reaps it, which may wait on the worker's output)."""
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                return stat.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
        except OSError:
            return False
    try:  # no /proc (not Linux): whether the pid exists at all
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def limit_address_space(budget: int) -> int | None:
    """Cap this process's address space (``RLIMIT_AS``) at what it uses now plus ``budget``;
    the new limit, or None where the platform cannot tell or enforce it (not Linux).

    Address space rather than resident memory: it is what the kernel can refuse at allocation
    time, so the check gets a MemoryError instead of the pod being killed."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    baseline = _address_space()
    if baseline is None:
        return None
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = baseline + budget
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _address_space() -> int | None:
    """This process's virtual memory size in bytes (Linux), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _ready() -> bool:
    return True


def _check_in_worker(request: CheckRequest) -> _Outcome:
    return _check_outcome(request, memory_bytes=_memory_budget)


def _check_outcome(request: CheckRequest, *, memory_bytes: int) -> _Outcome:
    """The check with its refusals as data; other exceptions (bugs) are raised."""
    try:
        return check_spec(request)
    except InvalidInput as error:
        return _Refused.of(error)
    except MemoryError:
        return _Refused(
            f"the check needed more than {_mib(memory_bytes)} MiB"
            " (GOSSIPSIM_CHECK_MEMORY_BYTES); make the graphs smaller, or raise the setting"
            " where the machine has the memory",
            None,
            replace_worker=True,
        )
    except RecursionError:
        return _Refused("the spec is nested too deeply to check", None)
    finally:
        release_free_memory()  # the graphs just built: give their heap back


def _without_field(error: InvalidInput) -> str:
    """The message of ``error`` without the ``field: `` prefix InvalidInput gave it."""
    message = str(error)
    prefix = f"{error.field}: " if error.field else ""
    return message[len(prefix) :] if prefix and message.startswith(prefix) else message


def _over_time(seconds: float) -> str:
    return (
        f"the check took longer than {seconds:g} s (GOSSIPSIM_CHECK_SECONDS); make the graphs"
        " smaller or the sweep shorter"
    )


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run ``callback`` on ``loop`` from another thread, unless the loop has closed since."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)
