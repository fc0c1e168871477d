"""How a node process tells the process that started it where it listens.

A local launcher starts ``python -m gossipsim.node --port 0`` (the node picks a free port) and
reads the child's standard output: the node's first line, once it accepts connections, is

    GOSSIPSIM_NODE_LISTENING <port>

Anything else (or nothing, because the process exited) means the node did not start. The
launcher also sets ``GOSSIPSIM_NODE_PARENT_PID`` to its own process id, and the node exits
once that process is gone, so a runner killed with SIGKILL leaves no orphan node behind.

Launchers of nodes that are not child processes (Kubernetes pods, a static pool) use neither:
they learn the address from the platform and wait for the gRPC health check instead.
"""

from __future__ import annotations

READY_LINE = "GOSSIPSIM_NODE_LISTENING"
PARENT_PID_VARIABLE = "GOSSIPSIM_NODE_PARENT_PID"


def ready_line(port: int) -> str:
    """What the node prints once it listens on ``port``."""
    return f"{READY_LINE} {port}"


def parse_ready_line(line: str) -> int | None:
    """The port a ready line announces, or None if ``line`` is not a ready line."""
    word, _, rest = line.strip().partition(" ")
    if word != READY_LINE or not rest.strip().isdigit():
        return None
    return int(rest)
