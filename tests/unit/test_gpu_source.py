"""The gpu exporter says where its readings come from (issue 33: the dashboards mark simulated watts
and joules): `ffwatt_gpu_source_info{source="simulated"}` under a fake NVML, none without a GPU."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import common_settings, parse
from ffwatt.exporters.gpu import GpuExporter
from ffwatt.exporters.samples import Samples
from ffwatt.readers import nvml
from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml


def _refresh() -> Samples:
    config = parse("gpu", "test", common_settings(9505, 5.0) + GpuExporter.settings, [], {})
    out = Samples("gpu")
    GpuExporter(config).refresh(out)
    return out


def test_a_fake_nvml_is_served_as_simulated(monkeypatch):
    FakeNvml([FakeGpu(index=0)]).install(monkeypatch.setattr)
    assert nvml.simulated()
    out = _refresh()
    assert out._values[m.GPU_SOURCE] == {("simulated",): 1}
    assert m.GPU_POWER in out._values  # beside real series of the same GPU


def test_no_gpu_no_source(monkeypatch):
    FakeNvml([]).install(monkeypatch.setattr)
    out = _refresh()
    assert out._values[m.GPU_SOURCE] == {}  # 0 GPUs: no readings to say anything of
