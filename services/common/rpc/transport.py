"""How node traffic flows: channels to node services, and what their server listens with.

Both ends of every node connection — the runner to its nodes, a node to its peers, the node's
own server — are made here from one :class:`NodeTransport`, so they agree on:

* **the message cap** (:mod:`.message_limit`), enforced when sending and when receiving;
* **flow-control windows** of 16 MiB: large enough that a delivery of a few megabytes is not
  stalled by window updates (a 400 MB Configure takes as long as with 1 GiB windows), small
  enough that a caller cannot park more than that in the node's memory per connection before
  the node has even looked at the call's credentials;
* **TLS**, where certificates are given (:class:`TlsFiles`): TLS 1.2 or later, both sides
  present a certificate and verify the other's against the deployment's CA (mutual TLS).
  A node is checked against the name :data:`TLS_SERVER_NAME`, not the address it was reached
  at: node addresses are pod IPs or local ports that no certificate could list, and a CA that
  signs node certificates is the deployment's own.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from grpclib._typing import IServable
from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.server import Server

from gossipsim.common.rpc.auth import send_token
from gossipsim.common.rpc.message_limit import DEFAULT_MAX_MESSAGE_BYTES, LimitedProtoCodec

WINDOW_BYTES = 16 * 2**20
TLS_SERVER_NAME = "gossipsim-node"  # the DNS name node certificates carry (subjectAltName)
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as (host, port); ValueError if it is not one."""
    host, _, port = address.rpartition(":")
    if not _HOST.fullmatch(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("not host:port with a port in 1..65535")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: this party's certificate (chain) and key, and the CA that signs its peers'."""

    cert: Path
    key: Path
    ca: Path

    def _context(self, purpose: ssl.Purpose) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(purpose, cafile=str(self.ca))
        except (OSError, ssl.SSLError):
            raise ValueError(
                f"could not load a PEM CA certificate from {self.ca} (GOSSIPSIM_NODE_TLS_CA)"
            ) from None
        try:
            context.load_cert_chain(str(self.cert), str(self.key))
        except (OSError, ssl.SSLError):
            raise ValueError(
                f"could not load a PEM certificate and its key from {self.cert} and {self.key} "
                "(GOSSIPSIM_NODE_TLS_CERT, GOSSIPSIM_NODE_TLS_KEY)"
            ) from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        return context

    def server_context(self) -> ssl.SSLContext:
        """The node's server: its certificate out, a client certificate from the CA required."""
        return self._context(ssl.Purpose.CLIENT_AUTH)

    def client_context(self) -> ssl.SSLContext:
        """A runner's or node's channel: its certificate out, the node's checked by name."""
        context = self._context(ssl.Purpose.SERVER_AUTH)
        context.check_hostname = True
        return context


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeTransport:
    """What both ends of node traffic agree on; plaintext with the default cap unless told."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    client_ssl: ssl.SSLContext | None = field(default=None, compare=False)
    server_ssl: ssl.SSLContext | None = field(default=None, compare=False)

    @classmethod
    def create(cls, *, max_message_bytes: int, tls: TlsFiles | None) -> NodeTransport:
        """Loads the TLS files now, so that a bad file fails at start-up, naming the setting."""
        return cls(
            max_message_bytes=max_message_bytes,
            client_ssl=None if tls is None else tls.client_context(),
            server_ssl=None if tls is None else tls.server_context(),
        )

    @property
    def tls(self) -> bool:
        return self.client_ssl is not None

    def codec(self) -> LimitedProtoCodec:
        return LimitedProtoCodec(self.max_message_bytes)

    def config(self) -> Configuration:
        return Configuration(
            http2_connection_window_size=WINDOW_BYTES,
            http2_stream_window_size=WINDOW_BYTES,
            ssl_target_name_override=TLS_SERVER_NAME if self.tls else None,
        )

    def channel(self, address: str, *, token: str | None = None) -> Channel:
        """A channel to the node at ``address``; with ``token``, every call carries it.

        Channels connect on their first call, not here.
        """
        host, port = parse_address(address)
        channel = Channel(host, port, ssl=self.client_ssl, config=self.config(), codec=self.codec())
        if token is not None:
            send_token(channel, token)
        return channel

    def server(self, handlers: Collection[IServable]) -> Server:
        """A server for the node's handlers; ``server_ssl`` goes to its ``start``."""
        return Server(handlers, config=self.config(), codec=self.codec())
