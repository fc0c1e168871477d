"""Contracts that two services (or a service and the CLI) share, each with one owner: the
scheduler's status document, the results layout, the node process handshake."""
