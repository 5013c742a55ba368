"""The shared ground of ffwatt: what the runner writes and the exporters and the report read.

* ``contract.results_model``: results files, loaded and validated (both shapes);
* ``contract.formulas``: every derived figure (energy, cost, emissions, quality per watt);

Standard library only, beside ``catalog/`` on the ground floor: the exporters, the
runner and the report import it; it imports none of them.
"""
