"""The benchmark runner (`ffwatt run`), a pipeline of sub-packages a scenario passes one way down:

    plan/ -> meter/ -> measure/ -> execute/ -> record/ -> run.py

`plan` (scenario files, schedule, sweeps), `meter` (the machine's energy over a window, from the
sources of ffwatt/energy), `measure` (ffmpeg encodes, progress, quality, a scenario measured on a
host), `execute` (here or on a fleet, behind one `Executor` protocol), `record` (results entries
and the one recorder of the results file), and the loop in `run.py`; `errors` and `settings` are
the base every floor may use. No module imports one above it (tests/unit/test_architecture.py);
the exporters never import the runner.
"""
