"""The shared ground of ffwatt: what the runner writes and the exporters and the report read.

* ``contract.schema``: the results document as typed structs (written and read);
* ``contract.loading``: results files, loaded and validated with tolerance (both shapes);
* ``contract.model``: the loaded view (`ResultsRun`, `Scenario`) with derived figures;
* ``contract.results_dir``: the results directory (newest file, reloaded on change);
* ``contract.results_writer``: the document `ffwatt run` writes;
* ``contract.formulas``: every derived figure (energy, cost, emissions, quality per watt);

Standard library and msgspec only, beside ``ffwatt/catalog/`` on the ground floor: the exporters, the
runner and the report import it; it imports none of them.
"""
