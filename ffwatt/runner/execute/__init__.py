"""The execution: where a scenario's repetitions are measured, behind one `Executor` protocol
(`executor`): here (`local`) or on a Dask fleet (`fleet`), each host's meter and measurer built by
one factory (`host`); live streams' RTMP target (`live_target`, the runner's own `rtmp_server`).

The fourth floor of the runner's pipeline: plan -> meter -> measure -> execute -> record -> run.
"""
