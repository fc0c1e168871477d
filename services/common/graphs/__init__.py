"""Graphs: the CSR graph every part works on, and everything that builds or measures one.

* :mod:`.graph` — the undirected CSR graph;
* :mod:`.sources` — a graph description from a spec to a graph, dispatching to
  :mod:`.source_generator` (a generator by name), :mod:`.source_text` (inline adjacency lists,
  files and store objects) and :mod:`.source_seed_resource` (the earlier simulator's ``Graph``
  resources);
* :mod:`.csr_generators` — random and regular topologies built straight into CSR arrays;
* :mod:`.labels` — vertex labels to vertex numbers; :mod:`.limits` — size caps checked first;
* :mod:`.inputs` — which files a source may read (the operator's roots), how many bytes of
  one, and the graph objects fetched from the store;
* :mod:`.metrics` — structural metrics and Louvain communities, once per graph.
"""
