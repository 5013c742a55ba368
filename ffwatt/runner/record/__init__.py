"""The record: a run's results file (`results_file`: new or resumed, its header), each scenario's
entry built as a `contract.schema.ScenarioEntry` (`entry`, `entry_media`), and every state change
recorded once in the file, the events and the log (`recorder.RunRecorder`, the only way to the
results writer; `events`: the NDJSON side channel).

The fifth floor of the runner's pipeline: plan -> meter -> measure -> execute -> record -> run.
"""
