"""Messaging: the bus interface, its two implementations, the topology and the messages.

* :mod:`.bus` — the ``Bus`` Protocol (AMQP's model); :mod:`.memory_bus` (embedded mode) and
  :mod:`.amqp_bus` (RabbitMQ) implement it with the same semantics;
* :mod:`.topology` — exchange and queue names under a prefix, dead-letter queue included;
* :mod:`.messages` — every command and event as a versioned frozen dataclass;
* :mod:`.publishing` and :mod:`.consuming` — the two ends every service uses;
* :mod:`.dead_letters` — inspecting and replaying the dead-letter queue.
"""
