"""The exchanges and queues of a gossipsim deployment, under one name prefix
(docs/design.md, Contracts).

Several deployments and test sessions share a broker by using different prefixes.

    commands (topic) ── simulation.* ──▶ <p>.scheduler
                     └─ run.start ─────▶ <p>.runs        (work queue, delivery limit)
    events (topic)   ── run.started|heartbeat|completed|failed, results.stored ──▶ <p>.scheduler
                     ├─ run.#, simulation.# ──────────────────────────▶ <p>.collector
                     └─ simulation.completed ─▶ <p>.runner-feed.<runner> (transient, one each)
    dead-letter (topic) ── # ──▶ <p>.dead-letters         (inspect and replay)
                        └─ run.start ──▶ <p>.scheduler    (a run that can never run has failed)

Two ways to get it: :meth:`Topology.declare` creates whatever is missing (local runs, tests,
Docker: nothing else creates it), :meth:`Topology.check` creates nothing and only checks, with
passive declares, that the exchanges and queues exist (Kubernetes: the broker's definitions
create them, and the services' users may not create or delete anything).
"""

from __future__ import annotations

from dataclasses import dataclass

from gossipsim.common.errors import GossipsimError
from gossipsim.common.messaging.bus import Bus, QueueSpec

DEFAULT_DELIVERY_LIMIT = 5


class TopologyMissing(GossipsimError):
    """An exchange or queue that was only checked (not declared) does not exist."""


@dataclass(frozen=True, slots=True)
class Topology:
    prefix: str = "gossipsim"
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"

    @property
    def runs_queue(self) -> str:
        return f"{self.prefix}.runs"

    @property
    def scheduler_queue(self) -> str:
        return f"{self.prefix}.scheduler"

    @property
    def collector_queue(self) -> str:
        return f"{self.prefix}.collector"

    @property
    def dead_letters_queue(self) -> str:
        return f"{self.prefix}.dead-letters"

    def runner_feed(self, instance: str) -> str:
        """A runner's private queue of finished simulations (it skips their queued runs)."""
        return f"{self.prefix}.runner-feed.{instance}"

    def exchange_for(self, kind: str) -> str:
        """Commands and work go to the commands exchange, everything else is an event."""
        return (
            self.commands
            if kind in ("simulation.submit", "simulation.cancel", "run.start")
            else self.events
        )

    @property
    def exchanges(self) -> tuple[str, str, str]:
        return (self.commands, self.events, self.dead_letter)

    @property
    def queues(self) -> tuple[QueueSpec, ...]:
        """The durable queues; the work queues dead-letter past the delivery limit."""
        work = (self.runs_queue, self.scheduler_queue, self.collector_queue)
        return (
            QueueSpec(name=self.dead_letters_queue),
            *(
                QueueSpec(
                    name=queue,
                    delivery_limit=self.delivery_limit,
                    dead_letter_exchange=self.dead_letter,
                )
                for queue in work
            ),
        )

    async def check(self, bus: Bus) -> None:
        """Check, declaring nothing, that the exchanges and queues exist, and make them known
        to ``bus`` (to publish and consume). Bindings cannot be checked this way (AMQP has no
        passive bind): they are the broker definitions' part.

        Raises :class:`TopologyMissing` naming the first one missing."""
        for exchange in self.exchanges:
            try:
                await bus.declare_exchange(exchange, kind="topic", passive=True)
            except LookupError:
                raise TopologyMissing(f"exchange {exchange!r} does not exist") from None
        for spec in self.queues:
            try:
                await bus.declare_queue(spec, passive=True)
            except LookupError:
                raise TopologyMissing(f"queue {spec.name!r} does not exist") from None

    async def declare(self, bus: Bus) -> None:
        """Create the exchanges, queues and bindings (idempotent: what exists is confirmed)."""
        for exchange in self.exchanges:
            await bus.declare_exchange(exchange, kind="topic")
        for spec in self.queues:
            await bus.declare_queue(spec)
        await bus.bind(self.dead_letters_queue, self.dead_letter, "#")
        await bus.bind(self.runs_queue, self.commands, "run.start")
        await bus.bind(self.scheduler_queue, self.commands, "simulation.*")
        for key in ("run.started", "run.heartbeat", "run.completed", "run.failed"):
            await bus.bind(self.scheduler_queue, self.events, key)
        await bus.bind(self.scheduler_queue, self.events, "results.stored")
        await bus.bind(self.scheduler_queue, self.dead_letter, "run.start")
        for key in ("run.#", "simulation.#"):
            await bus.bind(self.collector_queue, self.events, key)
