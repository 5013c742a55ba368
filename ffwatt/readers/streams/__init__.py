"""Live encoder processes on a host, seen from /proc: which streams run, under which name.

`identity` derives a stream's `stream` label from an encoder's command line (`ffmpeg_argv`,
`gst_argv`, `urls` parse it as the encoder does) with every credential hashed; the rtmp
exporter names nginx-rtmp's streams with the same function, so the two join in PromQL.
`discovery` finds the encoder process trees ffwatt did not start (`procfs` reads /proc), and
`counters` keeps each stream's CPU-seconds counter monotonic and its series for a bounded
time after it ends. Standard library only (plus `ffwatt.contract.formulas` for bitrates).
"""
