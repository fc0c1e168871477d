"""The simulation spec: what a user submits, checked whole before anything runs.

* :mod:`.simulation_spec` — the spec, its execution settings and its expansion into runs;
* :mod:`.run_plan` — one run as the messages carry it (graph, algorithm, parameters, settings);
* :mod:`.ids` — simulation and run ids: their alphabets, checked where they are made and read;
* :mod:`.graph_list` and :mod:`.algorithm_grid` — its ``graphs`` and its algorithms ×
  parameter grid; :mod:`.checks` — the small field checks they share;
* :mod:`.seed_simulation` — the earlier simulator's ``Simulation`` resources as specs.
"""
