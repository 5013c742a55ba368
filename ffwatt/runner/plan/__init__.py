"""The plan: what a run will measure and in which order, decided before anything runs.

* `scenario`: the typed `Scenario` specs; `scenario_file` reads and expands a scenario file
  (`scenario_fields` checks each entry's keys); `encoder_options`: what `options:` may pass;
* `schedule`: rounds over the matrix, shuffled from a seed (issue 22);
* `sweep`: a capacity sweep's step figures and its knee.

The first floor of the runner's pipeline: plan -> meter -> measure -> execute -> record -> run.
Pure: no ffmpeg, no clock, no file written.
"""
