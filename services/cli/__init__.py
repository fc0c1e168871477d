"""The ``gossipsim`` command line: ``run``, ``serve`` and the deployment commands."""
