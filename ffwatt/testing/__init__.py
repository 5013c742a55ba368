"""What the demo, the benchmarks and the tests start in place of what a machine lacks: real
servers launched on loopback in a private directory (`ffwatt.testing.servers`) and simulated
hardware (`ffwatt.testing.simulated`: a powercap tree, NVML), always labelled simulated.
No product module imports this package."""
