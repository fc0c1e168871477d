"""gossipsim: gossip-protocol simulations on network graphs.

The ``services`` directory is the ``gossipsim`` import package: ``gossipsim.common`` is the
shared code, ``gossipsim.node``/``runner``/``scheduler``/``collector`` are the services, and a
service never imports another service.
"""

__version__ = "0.1.0"
