"""Generated gRPC code for the node service (from proto/; regenerate with `make proto`)."""
