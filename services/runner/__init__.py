"""The gossipsim runner service."""
