"""energy.cpu_power_model: the model's watts per thread, from the committed TDP table."""

from __future__ import annotations

import pytest

from ffwatt.contract import formulas
from ffwatt.energy.cpu_power_model import load_table, match_tdp, model_figure


def _cpuinfo(name: str, flags: str = "fpu ht", siblings: int = 16) -> str:
    return f"processor\t: 0\nmodel name\t: {name}\nsiblings\t: {siblings}\nflags\t\t: {flags}\n"


def test_the_table_is_codecarbons_name_tdp_table():
    table = load_table()
    assert len(table) > 1000
    assert match_tdp("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", table) == ("intel xeon platinum 8375c", 300.0)
    assert match_tdp("AMD EPYC", table) is None  # a VM's bare family name is no model


def test_a_known_cpu_on_bare_metal_divides_its_tdp_by_the_package_siblings():
    figure = model_figure(_cpuinfo("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", siblings=12), threads_visible=12)
    assert figure.watts_per_thread == pytest.approx(65.0 / 12)  # 65 W TDP / 12 threads
    assert "65 W TDP / 12 threads" in figure.why


def test_a_core_count_in_the_name_counts_even_under_a_hypervisor():
    figure = model_figure(_cpuinfo("AMD EPYC 7763 64-Core Processor", flags="fpu ht hypervisor", siblings=2), 2)
    assert figure.watts_per_thread == pytest.approx(280.0 / 128)  # 64 cores x 2 threads


def test_a_vm_never_divides_the_socket_tdp_by_its_own_vcpus():
    # Xeon 8375C is 300 W; a 2-vCPU VM's siblings (2) would charge it 150 W per vCPU
    figure = model_figure(_cpuinfo("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "fpu ht hypervisor", 2), 2)
    assert figure.watts_per_thread == formulas.DEFAULT_WATTS_PER_THREAD
    assert "hypervisor" in figure.why


def test_an_unknown_cpu_gets_the_documented_per_thread_figure():
    figure = model_figure(_cpuinfo("AMD EPYC", siblings=2), 2)
    assert figure.watts_per_thread == formulas.DEFAULT_WATTS_PER_THREAD and "not in the TDP table" in figure.why


def test_tdp_watts_overrides_the_table():
    figure = model_figure(_cpuinfo("AMD EPYC", "fpu hypervisor", 2), threads_visible=2, tdp_override=10.0)
    assert figure.watts_per_thread == pytest.approx(5.0)  # 10 W / the 2 threads visible (package unknown)
    assert figure.why.startswith("--tdp-watts 10 W / 2 thread(s)")
