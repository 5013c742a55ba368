"""qoe exporter (9503): VMAF, PSNR, SSIM, quality per watt, efficiency, drop ratio."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.contract import formulas
from ffwatt.contract.model import ResultsRun
from ffwatt.exporters.results_source import ResultsFileExporter, scenario_labels
from ffwatt.exporters.samples import Samples


class QoeExporter(ResultsFileExporter):
    name = "qoe"

    def publish(self, run: ResultsRun, out: Samples) -> None:
        for s in run.scenarios:
            labels = scenario_labels(s)
            out.add(m.QOE_VMAF, s.vmaf, **labels)
            if s.vmaf_stats is not None:
                out.add(m.QOE_VMAF_HARMONIC_MEAN, s.vmaf_stats.harmonic_mean, **labels)
                out.add(m.QOE_VMAF_MIN, s.vmaf_stats.min, **labels)
                out.add(m.QOE_VMAF_P1, s.vmaf_stats.p1, **labels)
            out.add(m.QOE_PSNR, s.psnr, **labels)
            out.add(m.QOE_SSIM, s.ssim, **labels)
            out.add(m.QOE_QUALITY_PER_WATT, formulas.quality_per_watt(s.vmaf, s.mean_power_watts), **labels)
            out.add(m.QOE_EFFICIENCY, formulas.qoe_efficiency(s.pixels_processed, s.vmaf, s.energy_joules), **labels)
            out.add(m.QOE_DROP_RATIO, formulas.drop_ratio(s.dropped_frames, s.total_frames), **labels)
