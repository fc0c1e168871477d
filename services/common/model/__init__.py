"""The gossip model, free of I/O: what an algorithm is and what a run computes.

* :mod:`.algorithms` — exchange rule × peer-selection strategy × parameters (seed names too);
* :mod:`.peer_weights` — the seed strategies' peer-selection weights per CSR entry;
* :mod:`.initial_values` — where a run starts; :mod:`.convergence` — when it has ended;
* :mod:`.aggregates` — per-round aggregates, exact whatever the sharding;
* :mod:`.rng` and :mod:`.rng_kernels` — counter-based randomness (Python and numba).
"""
