"""ffwatt benchmarks: `python -m bench` (or `make bench`) runs them all and writes
bench/results/bench.json and bench/results/bench.md. See bench/__main__.py."""
