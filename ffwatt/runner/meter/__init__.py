"""The meter: the machine's energy and CPU time over a measurement window (`EnergyMeter`), from the
energy sources of ffwatt/energy (chosen in `choice`), sampled on a fixed cadence (`sampler`), with
each GPU's per-process share (`gpu_share`) and the host's idle power (`idle_power`).

The second floor of the runner's pipeline: plan -> meter -> measure -> execute -> record -> run.
"""
