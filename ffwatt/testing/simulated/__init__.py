"""Simulated hardware for machines that lack it (a powercap tree under a temp dir, NVML at the
pynvml function boundary), so the real reader code paths run. Everything it feeds is labelled
`simulated`, never passed off as measured."""
