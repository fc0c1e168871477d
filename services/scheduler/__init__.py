"""The gossipsim scheduler service."""
