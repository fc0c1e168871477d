"""Run a coroutine to the end from synchronous code, inside a running event loop or not.

The synchronous API (``gossipsim.run``, ``gossipsim.load_results``) is for notebooks and
scripts. A script has no event loop: ``asyncio.run`` does. A Jupyter kernel, or code already
inside ``asyncio.run(...)``, has one running in this thread, where ``asyncio.run`` refuses to
start (and nesting loops would need a patched asyncio). There the coroutine runs on a fresh
loop in a worker thread, and this thread blocks until it is done: the caller asked to wait, and
the simulation's services share nothing with the caller's loop.

An interrupt (Ctrl-C, a notebook's "interrupt kernel") while waiting cancels the coroutine in
the worker, waits for it to clean up (node processes are stopped), then is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_blocking"]

T = TypeVar("T")


def run_blocking(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``await factory()`` to its end; ``factory`` makes the coroutine where it runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    return _in_worker_thread(factory)


class _Worker(threading.Thread):
    """Runs the coroutine with ``asyncio.run`` and keeps its outcome, loop and task."""

    def __init__(self, factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        super().__init__(name="gossipsim-api", daemon=True)
        self._factory = factory
        self.started_running = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = asyncio.run(self._main())
        except BaseException as error:  # handed to the waiting thread, which raises it
            self.error = error
        finally:
            self.started_running.set()

    async def _main(self) -> Any:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.started_running.set()
        return await self._factory()

    def cancel(self) -> None:
        self.started_running.wait()
        if self.loop is not None and self.task is not None and not self.loop.is_closed():
            # RuntimeError: the loop closed meanwhile, and there is nothing left to cancel
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.task.cancel)


def _in_worker_thread(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    worker = _Worker(factory)
    worker.start()
    try:
        worker.join()
    except BaseException:
        worker.cancel()
        worker.join()
        raise
    if worker.error is not None:
        raise worker.error
    result: T = worker.result
    return result
