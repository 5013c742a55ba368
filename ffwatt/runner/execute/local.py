"""The local executor: each job measured here, when it is dispatched (`start`); `ready` then has
it at once. `cool_down` seconds pass after each, so the machine settles before the next
measurement. The encoded media are deleted after each job unless `keep_outputs` (logs stay); a
live scenario's recordings only when they are the runner's own server's.
"""

from __future__ import annotations

import time
from pathlib import Path

from ffwatt.runner.execute.executor import Job, Outcome
from ffwatt.runner.measure.commands import live_stream_name, output_paths
from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo
from ffwatt.runner.measure.measurer import LiveTarget, Measurer
from ffwatt.runner.measure.processes import EncodeError
from ffwatt.runner.plan.scenario import Scenario

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """An `Executor` that measures on this host with `measurer` (module docstring)."""

    def __init__(self, info: FfmpegInfo, measurer: Measurer, *, keep_outputs: bool, own_recordings: bool,
                 cool_down: float = 0.0) -> None:
        self.info, self.measurer, self.keep_outputs = info, measurer, keep_outputs
        self.own_recordings, self.cool_down = own_recordings, cool_down
        self.excused: set[str] = set()  # every skip here fails the run
        self._done: dict[Job, Outcome | EncodeError] = {}

    def cannot_run(self, s: Scenario) -> str | None:
        return None if s.idle else self.info.missing_encoder_reason(s.encoder)

    def start(self, job: Job, work_dir: Path) -> None:
        s = job.scenario
        try:
            self._done[job] = Outcome(*self.measurer.measure(s, work_dir, job.target, repetitions=job.repetitions,
                                                             quality=job.quality))
        except EncodeError as exc:
            self._done[job] = exc
        finally:
            if not self.keep_outputs and not s.idle:
                for path in self.media_files(s, work_dir, job.target):  # the encoded media; logs stay
                    path.unlink(missing_ok=True)
            if self.cool_down > 0:
                time.sleep(self.cool_down)

    def media_files(self, s: Scenario, work_dir: Path, target: LiveTarget | None) -> list[Path]:
        """What a job of `s` wrote that is ours to delete."""
        if not s.live:
            return [p for i in range(1, s.streams + 1) for p in output_paths(s, work_dir, i)]
        if target is None or target.record_dir is None or not self.own_recordings:
            return []  # another server's recordings are not ours to delete
        return [target.record_dir / f"{live_stream_name(s, i)}.flv" for i in range(1, s.streams + 1)]

    def ready(self, jobs: list[Job], timeout: float) -> list[Job]:
        return list(jobs)

    def outcome(self, job: Job) -> Outcome:
        done = self._done.pop(job)
        if isinstance(done, Exception):
            raise done
        return done

    def cancel(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._done.pop(job, None)

    def close(self) -> None:
        self._done.clear()
