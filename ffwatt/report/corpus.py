"""A corpus comparison as the CTC sheets give it: per clip against an anchor, averaged over clips.

A comparison is (clip, anchor, test). A *curve* is the complete, single-output encodes of one
clip (the scenario's `source.name`; files without source identity are one unnamed clip), one
encoder/preset and one encode size, sorted by bitrate. The encode size is a dimension (the
curve's `rung`) only where the clip was encoded at several sizes and this one is not the
clip's native size: a clip at its own size (its native size, or the one size it was encoded
at) compares and averages with other clips at theirs, whatever those sizes are: the CTC
headline. Where a clip was encoded at several sizes, the figures are also given on the
convex hulls over sizes (`report.hull`; "BD-rate (VMAF, convex hull)"...), as the AV1/AV2
CTC's adaptive-streaming practice does.

Every test curve is compared with the *anchor*'s curve of the same clip and size (and its
hull with the anchor's hull). The anchor (`choose_anchor`) is `--anchor ENCODER[/PRESET]`, else
the scenario file's first encoder/preset, which the runner records in the results header;
a file written before that record existed falls back on its first encode in file order, and
the report says so. *Averages* are the arithmetic means of the per-clip figures, per (figure,
anchor, test, rung): over all clips (two or more) and over the clips of each class
(`source.class`), each where there are two or more clips, as the JVET/JCT-VC CTC sheets give
them; refused, naming the clips, when a clip's figure is refused.

Every output here is a function of the set of scenarios, never of their order in a file:
curves, points and figures are sorted by what they are (`figure_order`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ffwatt.report.bd import compare, compare_hulls
from ffwatt.report.curve import AVERAGE, DEFAULT_MIN_OVERLAP, HULL_KINDS, KINDS, Curve, Delta, encoder_label, point_of
from ffwatt.report.data import ReportError, Row, RunInput, pixels
from ffwatt.report.hull import Ladder, curve_rows, hull_curves

__all__ = ["Anchor", "build_curves", "choose_anchor", "all_deltas", "average_over_clips", "figure_order",
           "native_sizes"]


@dataclass(frozen=True, slots=True)
class Anchor:
    """The curves every other is compared with: `encoder` and `preset`; `chosen` says how, and
    `default` whether it was the default (not `--anchor`)."""

    encoder: str
    preset: str | None
    chosen: str
    default: bool = True

    @property
    def label(self) -> str:
        return encoder_label(self.encoder, self.preset)

    def matches(self, item: Curve | Ladder) -> bool:
        return item.encoder == self.encoder and item.preset == self.preset


def native_sizes(rows: Sequence[Row]) -> dict[str | None, str | None]:
    """Each clip's native size "WxH" where all its scenarios record one and the same, else None."""
    seen: dict[str | None, set[str | None]] = {}
    for row in rows:
        src = row.scenario.source
        size = f"{src.width}x{src.height}" if src is not None and src.width and src.height else None
        seen.setdefault(row.scenario.source_name, set()).add(size)
    return {clip: next(iter(sizes)) if len(sizes) == 1 else None for clip, sizes in seen.items()}


def build_curves(rows: Sequence[Row]) -> list[Curve]:
    """Curves of the complete encodes, grouped by (clip, encoder, preset, size), sorted by those
    (the larger size first), each curve's points by bitrate."""
    usable = curve_rows(rows)
    native = native_sizes(usable)
    groups: dict[tuple[str, str, str, str], list[Row]] = {}
    sizes: dict[str | None, set[str | None]] = {}
    for row in usable:
        s = row.scenario
        groups.setdefault((s.source_name or "", s.encoder or "", s.preset or "", s.resolution or ""), []).append(row)
        sizes.setdefault(s.source_name, set()).add(s.resolution)
    curves = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], -pixels(k[3]), k[3])):
        members = sorted(groups[key], key=lambda r: (r.bitrate_bps, r.name))
        s = members[0].scenario
        own_size = len(sizes[s.source_name]) == 1 or s.resolution == native[s.source_name]
        label = encoder_label(s.encoder or "", s.preset)
        curves.append(Curve(label, s.encoder or "", s.preset, s.resolution, tuple(point_of(r) for r in members),
                            s.source_name, None if own_size else s.resolution, members[0].clip_class))
    return curves


def _default_anchor(curves: Sequence[Curve], runs: Sequence[RunInput]) -> tuple[Anchor | None, list[str]]:
    """The scenario file's first encoder/preset as the results header records it, else the first
    encode in the first file's order (files written before the record existed), with notes."""
    have = {(c.encoder, c.preset) for c in curves}
    recorded = [(r.label, (r.run.anchor.encoder, r.run.anchor.preset)) for r in runs if r.run.anchor is not None]
    notes = []
    if len({pair for _, pair in recorded}) > 1:
        listed = "; ".join(f"{label}: {encoder_label(e, p)}" for label, (e, p) in recorded)
        notes.append(f"the results files record different first encoders ({listed}); the first file's is the anchor")
    if recorded:
        encoder, preset = recorded[0][1]
        if (encoder, preset) in have:
            return Anchor(encoder, preset, "the first encoder of the scenario file, recorded in the results header"), notes
        notes.append(f"the scenario file's first encoder {encoder_label(encoder, preset)} has no curve here")
    for r in runs:
        for s in r.run.scenarios:
            if (s.encoder, s.preset) in have:
                why = ("the first encoder in the results file's order: the file does not record its scenario file's "
                       "first encoder (written before ffwatt recorded it), and a shuffled run's order is not the "
                       "scenario file's; give --anchor")
                return Anchor(s.encoder or "", s.preset, why), notes
    return None, notes


def choose_anchor(curves: Sequence[Curve], spec: str | None = None,
                  runs: Sequence[RunInput] = ()) -> tuple[Anchor | None, list[str]]:
    """The anchor named by `spec` (`ENCODER` or `ENCODER/PRESET`), else the default
    (`_default_anchor`), with notes. `ReportError` when `spec` names no curve, or an encoder alone
    has several presets and the header does not say which. (None, notes) without curves."""
    if not curves:
        if spec:
            raise ReportError(f"--anchor {spec}: no rate-quality curve to anchor (no encode with a bitrate and a "
                              "quality score)")
        return None, []
    if not spec:
        return _default_anchor(curves, runs)
    encoder, _, preset = spec.partition("/")
    known = sorted({c.label for c in curves})
    presets = sorted({c.preset or "" for c in curves if c.encoder == encoder})
    if not presets or (preset and preset not in presets):
        raise ReportError(f"--anchor {spec}: no curve has that encoder{'/preset' if preset else ''}; "
                          f"the curves are {', '.join(known)}")
    if not preset:
        recorded = [r.run.anchor for r in runs if r.run.anchor is not None and r.run.anchor.encoder == encoder]
        if recorded and (recorded[0].preset or "") in presets:
            preset = recorded[0].preset or ""
        elif len(presets) == 1:
            preset = presets[0]
        else:
            raise ReportError(f"--anchor {spec}: {encoder} has curves with several presets "
                              f"({', '.join(presets)}); give {encoder}/PRESET")
    return Anchor(encoder, preset or None, f"--anchor {spec}", default=False), []


def all_deltas(curves: Sequence[Curve], anchor: Anchor | None, method: str = "pchip",
               min_overlap: float = DEFAULT_MIN_OVERLAP,
               ladders: Sequence[Ladder] = ()) -> tuple[list[Delta], list[str]]:
    """Every curve against the anchor's curve of the same clip and size, every ladder over sizes
    against the anchor's ladder of the same clip (hull figures), then the averages; in
    `figure_order`. Returns the figures and notes (a clip without the anchor's curve)."""
    if anchor is None:
        return [], []
    anchors = {(c.clip, c.resolution): c for c in curves if anchor.matches(c)}
    deltas: list[Delta] = []
    unanchored: set[tuple[str, str]] = set()
    for test in curves:
        if anchor.matches(test):
            continue
        base = anchors.get((test.clip, test.resolution))
        if base is None:
            unanchored.add((test.clip or "", test.resolution or ""))
            continue
        deltas.extend(compare(base, test, method, min_overlap))
    deltas.extend(_hull_deltas(ladders, anchor, method, min_overlap))
    notes = [f"clip {clip or '(unnamed)'}" + (f" at {resolution}" if resolution else "")
             + f": no {anchor.label} curve to compare with (the anchor)" for clip, resolution in sorted(unanchored)]
    return figure_order(deltas + average_over_clips(deltas)), notes


def _hull_deltas(ladders: Sequence[Ladder], anchor: Anchor, method: str, min_overlap: float) -> list[Delta]:
    """Hull figures of every ladder over sizes against the anchor's ladder of the same clip; refused,
    with the reason, when a ladder's VMAF was scored at each encode's own size."""
    bases = {lad.clip: lad for lad in ladders if anchor.matches(lad) and lad.over_sizes}
    out = []
    for test in ladders:
        base = bases.get(test.clip)
        if anchor.matches(test) or not test.over_sizes or base is None:
            continue
        figures = compare_hulls(hull_curves(base), hull_curves(test), method, min_overlap)
        problem = base.scoring_problem or test.scoring_problem
        out.extend(replace(d, percent=None, linear=None, ci95_percent=None, ci95_linear=None, refused=problem)
                   if problem else d for d in figures)
    return out


def _mean(members: Sequence[Delta], clip_class: str | None) -> Delta:
    first = members[0]
    base = Delta(first.kind, first.anchor, first.test, clip=AVERAGE, resolution=first.rung, clips=len(members),
                 rung=first.rung, clip_class=clip_class)
    refused = [d for d in members if d.refused]
    if refused:
        names = ", ".join(d.clip or "(unnamed)" for d in refused)
        return replace(base, refused=f"refused on {len(refused)} of {len(members)} clips ({names})")
    percents = [d.percent for d in members]
    linears = [d.linear for d in members]
    return replace(base, percent=None if None in percents else math.fsum(percents) / len(members),
                   linear=None if None in linears else math.fsum(linears) / len(members),
                   overlap=min(d.overlap for d in members if d.overlap is not None),
                   caution="; ".join(sorted({d.caution for d in members if d.caution})) or None,
                   energy_kind=" and ".join(sorted({d.energy_kind for d in members if d.energy_kind})) or None)


def average_over_clips(deltas: Sequence[Delta]) -> list[Delta]:
    """The arithmetic mean of each figure over the clips, per (figure, anchor, test, rung): over
    all clips and over each class's clips, where there are two or more (one clip's figure is its own)."""
    groups: dict[tuple[str, str, str, str], list[Delta]] = {}
    for d in deltas:
        if d.clip != AVERAGE:
            groups.setdefault((d.kind, d.anchor, d.test, d.rung or ""), []).append(d)
    out = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda d: d.clip or "")
        for clip_class in sorted({d.clip_class for d in members if d.clip_class}):
            in_class = [d for d in members if d.clip_class == clip_class]
            if len(in_class) >= 2:
                out.append(_mean(in_class, clip_class))
        if len(members) >= 2:
            out.append(_mean(members, None))
    return out


_KIND_ORDER = {kind: k for k, kind in enumerate(KINDS + HULL_KINDS)}


def figure_order(deltas: Sequence[Delta]) -> list[Delta]:
    """Per test: the clips at their own size, then each lower rung (larger first), then the hulls;
    within them the clips by name, their class averages, the average over all clips; then the
    figure (`KINDS`, `HULL_KINDS` order)."""
    def key(d: Delta) -> tuple:
        curve = (2, 0, "") if d.hull else ((0, 0, "") if d.rung is None else (1, -pixels(d.rung), d.rung))
        place = (2, "") if d.clip == AVERAGE and d.clip_class is None else (
            (1, d.clip_class or "") if d.clip == AVERAGE else (0, d.clip or ""))
        return d.test, curve, place, _KIND_ORDER.get(d.kind, len(_KIND_ORDER))

    return sorted(deltas, key=key)
