"""Issue 30: `ffwatt audit` recomputes every joule from the inputs a results file records, and the
formulas it uses. Expected values are worked by hand in the comments, never taken from the code under
test; the files are written here as the runner writes them (format version 2 with `energy_inputs`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ffwatt.cli.main import main
from ffwatt.contract import formulas

# ---------------------------------------------------------------- the formulas


def test_busy_share_is_the_machines_cpu_time_over_its_cpus_and_window():
    assert formulas.busy_share(8.0, 2, 10.0) == pytest.approx(0.4)  # 8 / (2 x 10)
    assert formulas.busy_share(None, 2, 10.0) is None
    assert formulas.busy_share(1.0, 2, 0.0) is None  # an empty window holds no share


def test_attributed_energy_adds_the_cpu_share_and_each_gpus_share():
    # CPU: E 300 J, P_idle 20 W, 10 s: E_idle 200, E_active 100; cpu 6 of 8 s -> share 0.75; held 0.6 of 2 CPUs
    # -> 100 x 0.75 + 200 x 0.6 / 2 = 135 J. GPU: 312.5 J x 60 / 80 = 234.375 J. Together 369.375 J.
    own = formulas.attributed_energy_joules(300.0, [(312.5, 60.0, 80.0)], gpu_joules=312.5, idle_watts=20.0,
                                            window_seconds=10.0, scenario_cpu_seconds=6.0, machine_cpu_seconds=8.0,
                                            cpus_visible=2)
    assert own == pytest.approx(369.375)


def test_attributed_energy_of_nvml_alone_and_of_a_gpu_without_samples():
    # no CPU part: the GPU's share only; no per-GPU figures: the GPU part whole
    assert formulas.attributed_energy_joules(None, [(312.5, 60.0, 80.0)], gpu_joules=312.5, idle_watts=None,
                                             window_seconds=10.0, scenario_cpu_seconds=None,
                                             machine_cpu_seconds=None, cpus_visible=2) == pytest.approx(234.375)
    assert formulas.attributed_energy_joules(None, [], gpu_joules=50.0, idle_watts=None, window_seconds=1.0,
                                             scenario_cpu_seconds=None, machine_cpu_seconds=None,
                                             cpus_visible=2) == 50.0


def test_attributed_energy_is_unknown_when_the_cpu_share_is():
    assert formulas.attributed_energy_joules(300.0, [], gpu_joules=None, idle_watts=None, window_seconds=10.0,
                                             scenario_cpu_seconds=6.0, machine_cpu_seconds=8.0, cpus_visible=2) is None
    assert formulas.attributed_energy_joules(None, [], gpu_joules=None, idle_watts=1.0, window_seconds=1.0,
                                             scenario_cpu_seconds=1.0, machine_cpu_seconds=1.0, cpus_visible=1) is None


def test_agreement_is_one_part_in_a_million():
    assert formulas.agree(100.0, 100.0 + 9e-5)  # 0.9e-6 relative
    assert not formulas.agree(100.0, 100.0 + 2e-4)  # 2e-6 relative
    assert formulas.agree(None, None) and not formulas.agree(1.0, None) and not formulas.agree(None, 0.0)
    assert formulas.agree(0.0, 0.0)


# ---------------------------------------------------------------- a file as the runner writes it

# Window of "encode": 10 s, 2 encodes, its processes 6 CPU-s, the machine 8 CPU-s on 2 CPUs, RAPL 300 J,
# P_idle 20 W from the probe. Own 135 J over the window (above), 67.5 J per encode; machine 150 J, CPU 3 s.
WINDOW = {"window_s": 10.0, "encodes": 2, "cpu_seconds": 6.0, "machine_cpu_seconds": 8.0, "cpus_visible": 2,
          "busy_share": 0.4, "energy_source": "rapl", "machine_energy_joules": 300.0, "cpu_energy_joules": 300.0,
          "attribution": "cpu-time-share", "idle_watts": 20.0, "idle_source": "probe"}
# Model window of "modelled": W_thread 5 W, 2 threads, 10 s, machine 8 CPU-s: E = 5 x (0.1 x 2 x 10 + 0.9 x 8) = 46 J;
# idle term 5 x 0.1 x 2 = 1 W; own = W_thread x cpu_s = 5 x 6 = 30 J (the linear model's property), 1 encode.
MODEL_WINDOW = {"window_s": 10.0, "encodes": 1, "cpu_seconds": 6.0, "machine_cpu_seconds": 8.0, "cpus_visible": 2,
                "energy_source": "model", "machine_energy_joules": 46.0, "cpu_energy_joules": 46.0,
                "attribution": "cpu-time-share", "idle_watts": 1.0, "idle_source": "model",
                "model_watts_per_thread": 5.0}
# The probe: 60 J over 3 s (20 W), the machine 0.06 CPU-s on 2 CPUs: busy 0.01, under 0.05: accepted.
PROBE = {"origin": "probe", "accepted": True, "energy_source": "rapl", "window_s": 3.0, "cpu_energy_joules": 60.0,
         "machine_cpu_seconds": 0.06, "cpus_visible": 2, "busy_share": 0.01, "watts": 20.0}

DOC = {
    "format_version": 2, "test_date": "2026-01-01T00:00:00+00:00",
    "meter": {"mode": "in-process", "source": "rapl", "model_idle_fraction": 0.1, "attribution_version": 1},
    "idle": {"threshold": 0.05, "probe_seconds": 3.0, "watts": 20.0, "source": "probe", "checks": [PROBE]},
    "scenarios": [
        {"name": "encode", "encoder": "libx264", "duration": 2, "start_time": 100.0, "end_time": 130.0,
         "energy_joules": 67.5, "energy_source": "rapl", "machine_energy_joules": 150.0, "cpu_core_seconds": 3.0,
         "energy_attribution": "cpu-time-share", "energy_attribution_version": 1, "encodes_per_measurement": 2,
         "repetitions": [
             {"energy_joules": 67.5, "machine_energy_joules": 150.0, "cpu_core_seconds": 3.0},
             # 2nd window: E 200 J, cpu 4 of 4 s, 1 encode: E_idle 200, E_active 0 -> 0 + 200 x 0.4 / 2 = 40 J
             {"energy_joules": 40.0, "machine_energy_joules": 200.0, "cpu_core_seconds": 4.0}],
         "energy_inputs": [WINDOW, {**WINDOW, "encodes": 1, "cpu_seconds": 4.0, "machine_cpu_seconds": 4.0,
                                    "busy_share": 0.2, "machine_energy_joules": 200.0, "cpu_energy_joules": 200.0}]},
        {"name": "modelled", "encoder": "libx264", "duration": 2, "energy_joules": 30.0, "energy_source": "model",
         "machine_energy_joules": 46.0, "cpu_core_seconds": 6.0, "energy_attribution": "cpu-time-share",
         "energy_attribution_version": 1, "energy_inputs": [MODEL_WINDOW]},
    ],
}


def _mean_fix(doc: dict) -> dict:
    # the scenario's figures are the means of its repetitions': (67.5 + 40) / 2, (150 + 200) / 2, (3 + 4) / 2
    doc["scenarios"][0].update(energy_joules=53.75, machine_energy_joules=175.0, cpu_core_seconds=3.5)
    return doc


def _write(tmp_path: Path, doc: dict, name: str = "test_results_20260101_000000.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _audit(path: Path, capsys, *extra: str) -> tuple[int, str]:
    rc = main(["audit", str(path), *extra])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_a_file_whose_figures_follow_from_its_inputs_passes(tmp_path, capsys):
    rc, out = _audit(_write(tmp_path, _mean_fix(copy.deepcopy(DOC))), capsys)
    assert rc == 0, out
    assert "every recomputed figure agrees" in out and "DIFFERS" not in out


@pytest.mark.parametrize(("edit", "name", "where"), [
    (lambda d: d["scenarios"][0].update(energy_joules=54.0), "encode", "energy_joules"),
    (lambda d: d["scenarios"][0]["repetitions"][1].update(energy_joules=41.0), "encode",
     "repetitions[1].energy_joules"),
    (lambda d: d["scenarios"][0]["energy_inputs"][0].update(idle_watts=21.0), "encode", "energy_inputs[0].idle_watts"),
    (lambda d: d["scenarios"][1].update(machine_energy_joules=47.0), "modelled", "machine_energy_joules"),
    (lambda d: d["scenarios"][1]["energy_inputs"][0].update(cpu_energy_joules=40.0, machine_energy_joules=40.0),
     "modelled", "energy_inputs[0].cpu_energy_joules"),
], ids=["scenario energy", "a repetition's energy", "an idle power no check accepted", "machine energy",
        "a modelled joule"])
def test_an_edited_figure_fails_the_audit_naming_its_scenario_and_field(tmp_path, capsys, edit, name, where):
    doc = _mean_fix(copy.deepcopy(DOC))
    edit(doc)
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 1, out
    assert f"DIFFERS   {name}:" in out and f"{where}: the file has" in out
    assert out.rstrip().splitlines()[-1] == f"1 scenario(s) disagree: {name}"


def test_a_figure_made_with_the_models_idle_term_instead_of_the_probes_fails(tmp_path, capsys):
    # a buggy runner that took the model's 1 W out instead of the probe's 20 W for window 1: E_idle 10 J,
    # E_active 290 J -> 290 x 0.75 + 10 x 0.6 / 2 = 220.5 J, 110.25 J per encode: recorded with its true inputs
    doc = _mean_fix(copy.deepcopy(DOC))
    doc["scenarios"][0]["repetitions"][0]["energy_joules"] = 110.25
    doc["scenarios"][0]["energy_joules"] = (110.25 + 40.0) / 2
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 1 and "repetitions[0].energy_joules: the file has 110.25, its inputs give 67.5" in out


def test_the_header_idle_checks_are_recomputed(tmp_path, capsys):
    doc = _mean_fix(copy.deepcopy(DOC))
    doc["idle"]["checks"][0]["busy_share"] = 0.2  # 0.06 / (2 x 3) is 0.01
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 1 and "idle.checks[0].busy_share" in out and "(header)" in out.splitlines()[-1]


def test_an_accepted_baseline_that_was_busy_fails(tmp_path, capsys):
    doc = _mean_fix(copy.deepcopy(DOC))
    # a baseline window whose machine kept 20 % of its CPUs busy (4 CPU-s / (2 x 10 s)), recorded as accepted
    doc["scenarios"].append({"name": "baseline idle", "encoder": "none", "duration": 10, "energy_joules": 250.0,
                             "energy_source": "rapl", "machine_energy_joules": 250.0,
                             "energy_attribution": "exclusive", "energy_attribution_version": 1,
                             "energy_inputs": [{"window_s": 10.0, "encodes": 1, "machine_cpu_seconds": 4.0,
                                                "cpus_visible": 2, "energy_source": "rapl",
                                                "machine_energy_joules": 250.0, "cpu_energy_joules": 250.0,
                                                "attribution": "exclusive", "idle_accepted": True}]})
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 1 and "DIFFERS   baseline idle:" in out and "energy_inputs[0].idle_accepted" in out


def test_a_file_without_inputs_passes_saying_what_cannot_be_recomputed(tmp_path, capsys):
    doc = _mean_fix(copy.deepcopy(DOC))
    for s in doc["scenarios"]:
        s.pop("energy_inputs")
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 0, out
    assert "unchecked encode" in out
    assert "energy_joules, machine_energy_joules, repetitions[].energy_joules cannot be recomputed: the file " \
           "records no energy_inputs" in out


def test_an_unknown_window_energy_is_a_note_not_a_failure(tmp_path, capsys):
    doc = copy.deepcopy(DOC)
    doc["scenarios"] = [{"name": "stuck", "encoder": "libx264", "duration": 2, "energy_source": "none",
                         "energy_error": "RAPL at /x: counter did not advance over the 2.00 s window",
                         "cpu_core_seconds": 3.81, "energy_attribution_version": 1,
                         "energy_inputs": [{"window_s": 2.0, "encodes": 1, "cpu_seconds": 3.81,
                                            "machine_cpu_seconds": 3.9, "cpus_visible": 2, "energy_source": "none"}]}]
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 0, out
    assert "energy is unknown (none)" in out and "counter did not advance" in out


def test_explain_shows_the_worked_formula_with_its_numbers(tmp_path, capsys):
    rc, out = _audit(_write(tmp_path, _mean_fix(copy.deepcopy(DOC))), capsys, "--explain", "encode")
    assert rc == 0, out
    assert "E_idle   = min(P_idle x window_s, E_cpu) = min(20 x 10, 300) = 200 J" in out
    assert "share    = min(1, cpu_s / machine_cpu_s) = min(1, 6 / 8) = 0.75" in out
    assert "the scenario's own energy over the window = 135 J (cpu-time-share); per encode 135 / 2 = 67.5 J" in out
    # cost and carbon of 53.75 J and 3.5 CPU-s: 53.75 / 3.6e6 x 0.30 = 4.47917e-06; 3.5 / 3600 x 0.04 = 3.88889e-05
    assert "cost 4.47917e-06 EUR energy + 3.88889e-05 EUR compute" in out
    assert "0.00709201 g CO2e" in out  # 53.75 / 3.6e6 x 475


def test_explain_of_a_name_the_file_does_not_have_lists_those_it_has(tmp_path, capsys):
    rc, out = _audit(_write(tmp_path, _mean_fix(copy.deepcopy(DOC))), capsys, "--explain", "nope")
    assert rc == 2 and "no scenario named 'nope'" in out and "'encode', 'modelled'" in out


def test_a_file_that_cannot_be_read_exits_2(tmp_path, capsys):
    rc, out = _audit(tmp_path / "absent.json", capsys)
    assert rc == 2 and "absent.json" in out
    bad = tmp_path / "test_results_bad.json"
    bad.write_text("{not json")
    rc, out = _audit(bad, capsys)
    assert rc == 2 and "test_results_bad.json" in out


def test_a_gpu_window_is_split_by_its_utilisation(tmp_path, capsys):
    # 312.5 J x 60 / 80 = 234.375 J over one window of one encode
    doc = copy.deepcopy(DOC)
    doc["idle"] = None
    doc["scenarios"] = [{"name": "nvenc", "encoder": "h264_nvenc", "duration": 2, "energy_joules": 234.375,
                         "energy_source": "nvml", "machine_energy_joules": 312.5, "cpu_core_seconds": 1.0,
                         "energy_attribution": "gpu-process-utilisation", "energy_attribution_version": 1,
                         "energy_inputs": [{"window_s": 2.0, "encodes": 1, "cpu_seconds": 1.0, "cpus_visible": 2,
                                            "energy_source": "nvml", "machine_energy_joules": 312.5,
                                            "gpu_energy_joules": 312.5, "attribution": "gpu-process-utilisation",
                                            "gpus": [{"uuid": "GPU-1", "energy_joules": 312.5,
                                                      "scenario_utilisation": 60.0, "all_utilisation": 80.0}]}]}]
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 0, out
    doc["scenarios"][0]["energy_joules"] = 312.5  # charged whole although the driver split it
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 1 and "DIFFERS   nvenc:" in out


def test_a_rule_version_this_ffwatt_does_not_know_is_not_applied(tmp_path, capsys):
    doc = _mean_fix(copy.deepcopy(DOC))
    doc["scenarios"][0]["energy_attribution_version"] = formulas.ATTRIBUTION_VERSION + 1
    doc["scenarios"][0]["energy_joules"] = 1.0  # not recomputed: not a disagreement
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 0 and f"made with attribution rule version {formulas.ATTRIBUTION_VERSION + 1}" in out


def test_a_scenario_whose_repetitions_did_not_all_measure_energy_is_a_note_not_a_failure(tmp_path, capsys):
    # window 2's counter stood still: the runner leaves every energy figure of the scenario out (no mean of a
    # known and an unknown); window 1 alone still recomputes (135 J / 2 = 67.5 J), which the audit says
    doc = _mean_fix(copy.deepcopy(DOC))
    s = doc["scenarios"][0]
    s["energy_inputs"][1] = {**s["energy_inputs"][1], "energy_source": "none", "machine_energy_joules": None,
                             "cpu_energy_joules": None, "attribution": None}
    for rep in s["repetitions"]:
        rep.pop("energy_joules"), rep.pop("machine_energy_joules")
    for key in ("energy_joules", "machine_energy_joules"):
        s.pop(key)
    s.update(energy_source="none", energy_error="RAPL at /x: counter did not advance")
    rc, out = _audit(_write(tmp_path, doc), capsys)
    assert rc == 0, out
    assert "repetitions[0].energy_joules is absent from the file although its inputs give 67.5" in out
    assert "counter did not advance" in out
