"""Who gets a connection of the bounded server, and who makes room (exporters/admission.py)."""

from __future__ import annotations

import socket

import pytest

from ffwatt.exporters.admission import BUSY, HEAD, HEAD_MIN_AGE, MAX_LEAVING, WAITING, Admission, peer_key

SOCK = socket.socket()  # never used: admission only hands it back to the caller


def _admit(admission: Admission, peer: str = "10.0.0.1"):
    verdict = admission.admit(peer, SOCK)
    assert verdict.seat is not None, verdict.refused
    return verdict.seat, verdict.victims


def test_a_peer_over_its_cap_takes_its_own_oldest_waiting_connection_never_anothers():
    admission = Admission(max_total=100, max_per_peer=3, max_head=50)
    other, _ = _admit(admission, "10.0.0.9")
    mine = [_admit(admission)[0] for _ in range(3)]
    seat, victims = _admit(admission)
    assert victims == ((mine[0], "idle_evicted"),)
    assert not other.gone and seat.peer == "10.0.0.1"


def test_a_peer_over_its_cap_with_every_connection_busy_is_refused():
    admission = Admission(max_total=100, max_per_peer=2, max_head=50)
    for _ in range(2):
        admission.enter(_admit(admission)[0], BUSY)
    refused = admission.admit("10.0.0.1", SOCK)
    assert refused.seat is None and refused.refused == "per_peer"
    assert _admit(admission, "10.0.0.2")[0] is not None  # another peer still gets in


def test_at_the_total_cap_the_oldest_waiting_goes_first_then_the_oldest_head_never_a_busy_one():
    now = [0.0]
    admission = Admission(max_total=3, max_per_peer=10, max_head=3, clock=lambda: now[0])
    busy, head1, head2 = (_admit(admission, f"10.0.0.{k}")[0] for k in range(3))
    admission.enter(busy, BUSY)
    admission.enter(head1, HEAD)
    admission.enter(head2, HEAD)
    now[0] = 0.1  # at the total cap a newcomer gets in: the oldest head goes, however young
    _, victims = _admit(admission, "10.0.0.7")
    assert victims == ((head1, "head_evicted"),)  # the head that has taken longest
    newcomer, victims = _admit(admission, "10.0.0.8")
    assert victims[0][1] == "idle_evicted"  # the previous newcomer, still waiting for its first byte
    admission.enter(newcomer, BUSY)
    admission.enter(head2, BUSY)
    refused = admission.admit("10.0.0.9", SOCK)
    assert refused.seat is None and refused.refused == "over_capacity" and not busy.gone


def test_a_full_head_phase_gives_the_newest_head_the_place_of_the_oldest():
    now = [0.0]
    admission = Admission(max_total=100, max_per_peer=100, max_head=2, clock=lambda: now[0])
    seats = [_admit(admission, f"10.0.1.{k}")[0] for k in range(3)]
    assert admission.enter(seats[0], HEAD) == ()
    assert admission.enter(seats[1], HEAD) == ()
    now[0] = HEAD_MIN_AGE
    assert admission.enter(seats[2], HEAD) == ((seats[0], "head_evicted"),)
    assert admission.in_head == 2 and seats[0].gone


def test_under_the_head_cap_a_young_head_is_not_taken_a_burst_of_handshakes_passes():
    now = [0.0]
    admission = Admission(max_total=100, max_per_peer=100, max_head=2, clock=lambda: now[0])
    seats = [_admit(admission, f"10.0.1.{k}")[0] for k in range(5)]
    for seat in seats:  # five handshakes at once, the head cap two
        now[0] += 0.01
        assert admission.enter(seat, HEAD) == ()
    assert admission.in_head == 5  # the head cap exceeded for a moment (the total has room)
    now[0] = 0.01 + HEAD_MIN_AGE  # the first head has now taken the minimum age
    newcomer, _ = _admit(admission, "10.0.2.1")
    assert admission.enter(newcomer, HEAD) == ((seats[0], "head_evicted"),)


def test_an_evicted_seat_is_counted_out_once_and_its_thread_ending_frees_nothing_more():
    admission = Admission(max_total=1, max_per_peer=5, max_head=1)
    first, _ = _admit(admission)
    second, victims = _admit(admission)
    assert victims == ((first, "idle_evicted"),)
    admission.release(first)  # the victim's thread ends
    admission.release(second)
    assert admission.waiting == 0
    for _ in range(2):  # both slots are really free again: one at a time, no overshoot left
        seat, victims = _admit(admission)
        admission.release(seat)
        assert victims == ()


def test_evictions_stop_while_too_many_victims_have_not_left():
    admission = Admission(max_total=1, max_per_peer=10_000, max_head=1)
    _admit(admission)
    for _ in range(MAX_LEAVING):
        assert _admit(admission)[1]  # each newcomer evicts the previous one
    assert admission.admit("10.0.0.1", SOCK).refused == "over_capacity"


@pytest.mark.parametrize(("address", "peer"), [
    ("192.0.2.7", "192.0.2.7"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # one host's /64 is one peer
    ("fe80::1%eth0", "fe80::/64"),
])
def test_a_peer_is_an_ipv4_address_or_an_ipv6_64(address, peer):
    assert peer_key(address) == peer


def test_phases_are_waiting_until_the_first_byte():
    admission = Admission(max_total=10, max_per_peer=10, max_head=5)
    seat, _ = _admit(admission)
    assert seat.phase == WAITING and admission.waiting == 1
    admission.enter(seat, HEAD)
    assert admission.waiting == 0 and admission.in_head == 1
    admission.enter(seat, BUSY)
    assert admission.in_head == 0
