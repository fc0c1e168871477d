"""The gossipsim node service."""
