"""A scenario's results entry, built as a `contract.schema.ScenarioEntry` from its measured
repetitions and quality pass (the struct goes to the results writer as is).

With repetitions, the measurements are their means; every figure is per single encode
(`encodes_per_measurement` of them in a window, the first repetition's; each repetition's count is in
`energy_inputs`). The energy half, with every input of each joule: `entry_energy`. Unknown is `None`
(left out of the file), never 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from ffwatt.contract.schema import QualityDetail, ScenarioEntry, SourceEntry
from ffwatt.runner.execute.executor import Outcome
from ffwatt.runner.measure import quality as q
from ffwatt.runner.measure.commands import source_input_args
from ffwatt.runner.measure.encode_results import EncodeResult, LiveResult, mean
from ffwatt.runner.measure.measurer import QualityPass, Rep
from ffwatt.runner.measure.media_probe import SourceCatalog
from ffwatt.runner.plan.scenario import QualitySpec, Scenario
from ffwatt.runner.record.entry_energy import energy_fields
from ffwatt.runner.record.entry_media import ladder_avg_fps, ladder_totals, media_truth, rungs

__all__ = ["scenario_entry", "source_entry", "summary", "with_hosts", "quality_reference"]


def scenario_entry(s: Scenario, reps: list[Rep], quality: QualityPass | None,
                   source: SourceEntry | None = None) -> ScenarioEntry:
    """The results entry of a scenario (module docstring)."""
    first = reps[0]
    start, end = first.span
    common: dict[str, Any] = dict(name=s.name, duration=s.duration, start_time=start, end_time=end, viewers=s.viewers,
                                  encodes_per_measurement=first.encodes if first.encodes > 1 else None,
                                  **energy_fields(s, reps))
    if s.idle:
        return ScenarioEntry(encoder="none", **common)
    fields = _encode_fields(s, reps)
    fields.update(_media_fields(s, fields, reps, source))
    if quality is not None:
        fields.update(_quality_fields(s, quality))
    return ScenarioEntry(**common, **fields)


def _encode_fields(s: Scenario, reps: list[Rep]) -> dict[str, Any]:
    """What the encodes did: frame rates, frames, bytes, bitrate, speed; a live run's drops and streams."""
    results = [r.results[0] for r in reps if r.results]
    fields: dict[str, Any] = dict(
        encoder=s.encoder, preset=s.preset, resolution=s.resolution, fps=s.fps, streams=s.streams, mode=s.mode,
        # means over the repetitions of each one's mean over its encodes (what `repetitions` shows)
        avg_fps=mean([mean([x.avg_fps for x in r.results]) for r in reps]), total_frames=results[0].total_frames,
        dropped_frames=0, output_bytes=results[0].output_bytes,
        measured_bitrate_bps=results[0].measured_bitrate_bps(s.fps),
        speed=mean([mean([x.speed for x in r.results]) for r in reps]),
        cpu_core_seconds=mean([r.per_encode(r.cpu_seconds) for r in reps]),
    )
    live = [r for r in results if isinstance(r, LiveResult)]
    if live:
        lead = live[0]
        # Drops and details are the first repetition's (like the frame count); a stream that fell
        # behind in any repetition counts, and the lowest sustained speed of all is kept.
        lows = [r.min_speed for r in live if r.min_speed is not None]
        fields.update(
            dropped_frames=lead.dropped_frames, duplicated_frames=lead.duplicated_frames,
            fell_behind_streams=max(r.fell_behind_streams for r in live), min_speed=min(lows) if lows else None,
            streams_detail=[st.detail() for st in lead.streams],
        )
    return fields


def _media_fields(s: Scenario, fields: dict[str, Any], reps: list[Rep],
                  source: SourceEntry | None) -> dict[str, Any]:
    """The bitrate asked, a ladder's rungs and totals, and the media truth (issue 23)."""
    out: dict[str, Any] = {}
    first_result = next(r.results[0] for r in reps if r.results)
    if s.outputs:
        out["bitrate"] = str(sum(r.bitrate_bps for r in s.outputs))  # one stream's ladder, in bits/s
        out["outputs"] = rungs(s, first_result)
        out.update(ladder_totals(s, out["outputs"]))
        if isinstance(first_result, EncodeResult):
            # as avg_fps: the mean over the repetitions of each one's mean over its encodes
            out["avg_fps"] = mean([ladder_avg_fps(s, r.results) for r in reps])
    else:
        out["bitrate"] = s.bitrate
    out.update(media_truth(s, {**fields, **out}, source))
    return out


def _quality_fields(s: Scenario, quality: QualityPass) -> dict[str, Any]:
    vmaf, psnr, ssim = quality.vmaf, quality.psnr, quality.ssim
    reference = quality_reference(s, quality.distorted, list(quality.comparisons))
    return dict(
        vmaf_score=vmaf.mean if vmaf else None, psnr_score=psnr.mean if psnr else None,
        ssim_score=ssim.mean if ssim else None,
        vmaf=_detail(vmaf, model=reference["model"]) if vmaf else None,
        psnr=_detail(psnr) if psnr else None,
        ssim=_detail(ssim) if ssim else None,
        quality_reference=reference,
        quality_cpu_seconds=quality.cpu_seconds,
    )


def quality_reference(s: Scenario, distorted: str, comparisons: list[q.Comparison]) -> dict[str, str]:
    """What was compared: the reference, the distorted side, where they were scored (`scored_at`: source,
    encode or WxH), the size(s) scored at, the scaler and the VMAF model(s); several rungs scored at
    different sizes list theirs in rung order, comma-separated."""

    def joined(values: list[str]) -> str:
        return values[0] if len(set(values)) == 1 else ",".join(values)

    spec = s.quality or QualitySpec()
    return {"reference": "source", "distorted": distorted, "resolution": joined([c.size for c in comparisons]),
            "scaler": joined([c.scaler for c in comparisons]),
            # issue 23: where the pair was scored, and with which model
            "scored_at": spec.resolution, "model": joined([c.model for c in comparisons])}


def _detail(stats: q.QualityStats, *, model: str | None = None) -> QualityDetail:
    """The written form of one metric's pooled scores."""
    return QualityDetail(mean=stats.mean, harmonic_mean=stats.harmonic_mean, min=stats.min, p1=stats.p1, model=model,
                         pooling=stats.pooling, frame_mean=stats.frame_mean, y=stats.y, u=stats.u, v=stats.v)


def source_entry(s: Scenario, sources: SourceCatalog) -> SourceEntry | None:
    """The scenario's source as the results record it (issue 23); a file is probed and hashed once per run."""
    src = s.source
    if s.idle or src is None:
        return None
    if src.kind == "lavfi":
        expression = source_input_args(s)[-1]  # what `-i` generated: name=size=WxH:rate=F
        return SourceEntry(name=src.clip, lavfi=expression, width=s.width, height=s.height, fps=s.fps,
                           duration_seconds=s.duration)
    ident = sources.identify(Path(src.path))
    m = ident.media
    return SourceEntry(name=src.clip, path=src.written or src.path, size_bytes=ident.size_bytes,
                       sha256=ident.sha256, width=m.width, height=m.height, fps=m.fps,
                       duration_seconds=m.duration_seconds, clip_class=src.clip_class)


def with_hosts(entry: ScenarioEntry, outcome: Outcome) -> ScenarioEntry:
    """A fleet scenario's `host` (its first repetition's), the hosts lost while running it and, when
    its repetitions ran on several hosts, each repetition's."""
    fields: dict[str, Any] = {"host": outcome.hosts[0]}
    if outcome.lost_hosts:
        fields["lost_attempt_hosts"] = list(outcome.lost_hosts)
    if len(set(outcome.hosts)) > 1 and entry.repetitions:
        fields["repetitions"] = [msgspec.structs.replace(rep, host=host)
                                 for rep, host in zip(entry.repetitions, outcome.hosts, strict=True)]
    return msgspec.structs.replace(entry, **fields)


_SUMMARY = ("avg_fps", "total_frames", "speed", "energy_joules", "energy_source", "cpu_core_seconds", "vmaf_score",
            "psnr_score", "measured_bitrate_bps", "dropped_frames", "fell_behind_streams", "min_speed")


def summary(entry: ScenarioEntry) -> dict[str, Any]:
    """The headline figures of an entry (its event and log line), floats to 3 decimals; unknown ones left out."""
    values = {k: getattr(entry, k) for k in _SUMMARY if getattr(entry, k) is not None}
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}

