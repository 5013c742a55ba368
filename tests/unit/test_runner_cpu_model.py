"""energy.cpu_power_model: the model's watts per thread, from the committed TDP table."""

from __future__ import annotations

import pytest

from ffwatt.contract import formulas
from ffwatt.energy.cpu_power_model import ModelFigureError, load_table, match_tdp, model_figure


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


def test_tdp_watts_under_a_hypervisor_without_the_package_threads_is_refused_with_the_fix():
    # issue 30: 40 W typed for a 2-vCPU VM would be charged 20 W per vCPU, half a socket each
    with pytest.raises(ModelFigureError) as refused:
        model_figure(_cpuinfo("AMD EPYC", "fpu hypervisor", 2), threads_visible=2, tdp_override=40.0)
    assert "--package-threads" in str(refused.value) and "--watts-per-thread" in str(refused.value)


def test_tdp_watts_is_divided_by_the_package_threads_given():
    figure = model_figure(_cpuinfo("AMD EPYC", "fpu hypervisor", 2), threads_visible=2, tdp_override=40.0,
                          package_threads=32)
    assert figure.watts_per_thread == pytest.approx(1.25)  # 40 W / 32 threads of the package
    assert figure.why.startswith("--tdp-watts 40 W / 32 thread(s) (--package-threads 32)")
    assert (figure.tdp_watts, figure.package_threads) == (40.0, 32)


def test_tdp_watts_on_bare_metal_is_divided_by_the_package_siblings():
    figure = model_figure(_cpuinfo("AMD EPYC", "fpu ht", 16), threads_visible=32, tdp_override=64.0)
    assert figure.watts_per_thread == pytest.approx(4.0)  # 64 W / 16 siblings, never / the 32 of two sockets


def test_tdp_watts_follows_the_core_count_of_the_cpus_name_under_a_hypervisor():
    figure = model_figure(_cpuinfo("AMD EPYC 7763 64-Core Processor", "fpu ht hypervisor", 2), 2, tdp_override=256.0)
    assert figure.watts_per_thread == pytest.approx(2.0)  # 256 W / (64 cores x 2 threads)


def test_package_threads_divide_the_tables_tdp_under_a_hypervisor():
    figure = model_figure(_cpuinfo("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "fpu ht hypervisor", 2), 2,
                          package_threads=64)
    assert figure.watts_per_thread == pytest.approx(300.0 / 64)  # the table's 300 W / the host package's 64


def test_watts_per_thread_is_the_figure_itself_and_stands_alone():
    figure = model_figure(_cpuinfo("AMD EPYC", "fpu hypervisor", 2), 2, watts_per_thread=3.5)
    assert figure.watts_per_thread == 3.5 and figure.why == "--watts-per-thread 3.5 W"
    with pytest.raises(ModelFigureError, match="alone"):
        model_figure(_cpuinfo("AMD EPYC", "fpu hypervisor", 2), 2, tdp_override=40.0, watts_per_thread=3.5)
