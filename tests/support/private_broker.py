"""A RabbitMQ node of the test's own, so that a test may stop and restart its broker.

The machine's RabbitMQ is shared and must never be stopped, so a fault test runs Debian's
``rabbitmq-server`` as a plain child process: a node named ``gstest-<hex>@localhost`` on free
ports of 127.0.0.1, with its data, logs, configuration, plugin list and Erlang cookie in the
test's directory (``GOSSIPSIM_TEST_RABBITMQ_SERVER`` names another ``rabbitmq-server`` script;
without one the tests are skipped, or failed in CI: ``GOSSIPSIM_REQUIRE_SERVICES=1``).
Isolation from the shared node, point by point:

* Everything is passed through ``RABBITMQ_*`` variables, and ``RABBITMQ_CONF_ENV_FILE`` points
  at an empty file, so the shared node's ``/etc/rabbitmq/rabbitmq-env.conf`` (which names
  ``rabbit@localhost``) is never read; nor are its ``rabbitmq.conf`` or ``enabled_plugins``
  (no plugins here: no management or Prometheus listener to collide with).
* ``HOME`` is a folder of the test's, so the node creates an Erlang cookie of its own there and
  ``rabbitmqctl``, run with the same ``HOME``, could not operate on the shared node even if it
  were named; it is always given ``-n <this node>`` as well.
* Both nodes register with the same ``epmd`` (port 4369) under different names. Where no epmd
  runs, the node starts one, which outlives it (as epmd does for any Erlang node).
* The readiness check opens an AMQP connection and requires the server to call itself by this
  node's name, so a port taken by someone else can never pass for this broker.

:meth:`PrivateBroker.stop` is graceful (``rabbitmqctl -n <node> stop``, else SIGTERM to the
``rabbitmq-server`` script, which passes it on to the VM) and :meth:`PrivateBroker.start`
reuses the node name, ports and data directory, so durable queues and persistent messages
survive a restart. Measured on the development machine (RabbitMQ 3.10.8, Erlang 25): a start
takes 5-6 s (up to 11 s when the machine is busy), nearly all of it the Erlang VM and
RabbitMQ booting; a graceful stop 1.7-2.3 s; so a restart keeps clients away for 7-13 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
import pytest_asyncio

from tests.support.ports import free_ports

SERVER = Path(
    os.environ.get("GOSSIPSIM_TEST_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server")
)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


class PrivateBroker:
    """One RabbitMQ node in ``workdir``: ``await start()``, ``stop()``, ``restart()``."""

    def __init__(self, workdir: Path, *, server: Path = SERVER) -> None:
        self.workdir = workdir
        self.server = server
        self.rabbitmqctl = server.with_name("rabbitmqctl")
        self.nodename = f"gstest-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port = free_ports(2)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._write_configuration()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.workdir / "log" / f"{self.nodename}.log"

    @property
    def env(self) -> dict[str, str]:
        """The environment of the node and of ``rabbitmqctl`` (private cookie in ``HOME``)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        return {
            **base,
            "HOME": str(self.workdir / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(self.workdir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.workdir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_PID_FILE": str(self.workdir / "rabbitmq.pid"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _write_configuration(self) -> None:
        for folder in ("home", "mnesia", "log"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        (self.workdir / "rabbitmq-env.conf").write_text("")
        (self.workdir / "enabled_plugins").write_text("[].\n")
        (self.workdir / "advanced.config").write_text("[].\n")
        (self.workdir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            f"cluster_name = {self.nodename}\n"
            "log.console = false\n"
        )

    async def start(self, timeout: float = START_TIMEOUT) -> float:
        """Start the node and wait until it takes AMQP connections; returns the seconds taken."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.nodename} is already running")
        began = time.monotonic()
        self.starts += 1
        with (self.workdir / f"stdout-{self.starts}.log").open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.server)],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a ^C at the terminal is for pytest, which stops us
            )
        try:
            await self._wait_until_serving(began + timeout)
        except BaseException:  # not serving (or the test was stopped): leave nothing running
            self._kill()
            raise
        return time.monotonic() - began

    async def _wait_until_serving(self, deadline: float) -> None:
        assert self.process is not None
        while not await self._answers():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.nodename} exited with {self.process.returncode} while starting\n"
                    f"{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.nodename} took no AMQP connection in time\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)

    async def _answers(self) -> bool:
        """An AMQP connection to our port is served by this node (not whoever took the port)."""
        try:  # a plain TCP probe first: aiormq logs every refused connection
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        try:
            connection = await asyncio.wait_for(aio_pika.connect(self.url), 2)
        except (OSError, TimeoutError, aio_pika.exceptions.AMQPError):
            return False
        async with connection:
            transport = connection.transport
            properties = transport.connection.server_properties if transport else {}
        name = properties.get("cluster_name")
        name = name.decode() if isinstance(name, bytes) else name
        if name != self.nodename:
            raise AssertionError(f"port {self.port} is served by {name!r}, not {self.nodename}")
        return True

    async def stop(self, timeout: float = STOP_TIMEOUT) -> float:
        """Stop gracefully (``rabbitmqctl -n <node> stop``, else SIGTERM); returns the seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return 0.0
        began = time.monotonic()
        ctl = await asyncio.create_subprocess_exec(
            str(self.rabbitmqctl),
            "-n",
            self.nodename,
            "stop",
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(ctl.wait(), timeout / 2)
        except TimeoutError:
            ctl.kill()
            await ctl.wait()
        if ctl.returncode != 0 and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the script passes it on to the VM and waits
        while process.poll() is None:
            if time.monotonic() - began > timeout:
                self._kill()
                raise AssertionError(f"{self.nodename} did not stop in {timeout} s; killed")
            await asyncio.sleep(0.05)
        return time.monotonic() - began

    def _kill(self) -> None:
        """SIGKILL the node's process group: the script, the Erlang VM and its helpers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        with contextlib.suppress(ProcessLookupError):  # raised once the whole group is gone
            while time.monotonic() < deadline:
                os.killpg(self.process.pid, 0)
                time.sleep(0.05)

    async def restart(self) -> float:
        """Stop, then start on the same name, ports and data; returns the seconds it was away."""
        return await self.stop() + await self.start()

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for path in [*sorted(self.workdir.glob("stdout-*.log")), self.log_path]:
            if path.exists():
                parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


def require_rabbitmq_server(server: Path = SERVER) -> None:
    """Skip (or, in CI, fail) unless RabbitMQ's server script is installed."""
    if server.is_file() and server.with_name("rabbitmqctl").is_file():
        return
    reason = f"no RabbitMQ server at {server}: `apt-get install rabbitmq-server`"
    if os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (GOSSIPSIM_REQUIRE_SERVICES=1: integration tests must run)")
    pytest.skip(reason)


@pytest_asyncio.fixture
async def private_broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PrivateBroker]:
    """A started private RabbitMQ node, stopped after the test (its data is scratch)."""
    require_rabbitmq_server()
    broker = PrivateBroker(tmp_path_factory.mktemp("rabbitmq"))
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
