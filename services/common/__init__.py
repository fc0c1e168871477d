"""Code every gossipsim service shares: graphs, algorithms, randomness, contracts."""
