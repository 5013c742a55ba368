"""Real servers started on loopback in a private directory (VictoriaMetrics, Prometheus,
vmalert, dockerd, nginx-rtmp, ffmpeg feeders), for `make demo`, `make bench`, the runner's own
RTMP server and the tests. Built on `common.process`."""
