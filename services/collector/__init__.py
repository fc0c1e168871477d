"""The gossipsim collector service."""
