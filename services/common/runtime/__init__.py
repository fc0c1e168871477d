"""Service plumbing shared by every composition root: settings from the environment,
logging, health endpoints, opening the bus and the store, and running until signalled."""
