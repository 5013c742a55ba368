"""`python -m bench.in_tree TREE MODULE ARGS...`: run MODULE (e.g. `ffwatt.exporters`) from the checkout
at TREE rather than this one, so one bench run can measure a server before and after a change
(`FFWATT_BENCH_BASELINE_TREE`, bench/websec.py)."""

import runpy
import sys

if len(sys.argv) < 3:
    sys.exit("usage: python -m bench.in_tree TREE MODULE [ARGS...]")
tree, module = sys.argv[1], sys.argv[2]
sys.path.insert(0, tree)
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
