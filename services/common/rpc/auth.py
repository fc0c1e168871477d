"""Who may call a node service: the runner that configured it, and the peers of that session.

Two credentials travel in gRPC metadata, never in the messages:

* the **launch secret** (``x-gossipsim-node-secret``): what the node was started with
  (``GOSSIPSIM_NODE_SECRET``; a launcher makes one per node or run, a static pool shares the
  operator's). Only ``Configure`` needs it: holding it is what makes a caller the node's runner.
* the **session token** (``x-gossipsim-token``): fresh random bytes the runner draws for each
  configured session and sends along with ``Configure``. Every later call carries it — the
  runner's, and the deliveries between the session's nodes — and a new ``Configure`` replaces
  it, so a token is worthless once its session is over.

Comparisons take constant time (:func:`hmac.compare_digest`). The gRPC health service stays
open: it says only whether the process serves, and probes have no credentials.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping

from grpclib.client import Channel
from grpclib.events import SendRequest, listen

SECRET_HEADER = "x-gossipsim-node-secret"
TOKEN_HEADER = "x-gossipsim-token"
TOKEN_BYTES = 32  # of randomness; its URL-safe text is 43 characters
MIN_CREDENTIAL_CHARACTERS = 16  # a launch secret or token shorter than this is refused


def new_token() -> str:
    """A session token (or a launch secret): 32 random bytes as URL-safe text."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def presented(metadata: Mapping[str, object] | None, header: str) -> str | None:
    """The credential a call carries under ``header``, if it carries one as text."""
    if metadata is None:
        return None
    value = metadata.get(header)
    return value if isinstance(value, str) else None


def matches(given: str | None, expected: str | None) -> bool:
    """Whether ``given`` is ``expected``, in constant time; nothing matches a missing value."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def send_token(channel: Channel, token: str) -> None:
    """Make every call on ``channel`` carry ``token``."""

    async def add_token(event: SendRequest) -> None:
        event.metadata[TOKEN_HEADER] = token

    listen(channel, SendRequest, add_token)
