"""The Kubernetes API client of the services that use one (the scheduler's resource watcher,
the runner's pod launcher); their settings are ``KubernetesSettings`` in settings.py.

A module of its own so that only a process that talks to a cluster loads the client.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from kubernetes_asyncio import client, config


@contextlib.asynccontextmanager
async def kubernetes_api() -> AsyncIterator[client.ApiClient]:
    """The cluster's API: the pod's service account in a cluster, else the kubeconfig."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(  # type: ignore[no-untyped-call]  # untyped upstream
            client_configuration=configuration
        )
    except config.ConfigException:
        await config.load_kube_config(client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        yield api
