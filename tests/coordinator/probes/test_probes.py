"""ARP and neighbour-discovery probes between two real namespaces: conflicts, gateways, announcements."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from coordinator.probes import ProbeError, announce, in_netns, probe_gateway, probe_ip_conflict


@pytest.mark.parametrize("held", ["10.77.0.2", "fd77::2"])
def test_an_address_another_host_holds_is_a_conflict_naming_its_mac(link, held):
    assert probe_ip_conflict(link.here, "pa", held, timeout=1.0) == link.mac_there


@pytest.mark.parametrize("free", ["10.77.0.9", "fd77::9"])
def test_a_free_address_is_no_conflict(link, free):
    assert probe_ip_conflict(link.here, "pa", free, timeout=0.3) is None


@pytest.mark.parametrize("gateway", ["10.77.0.2", "fd77::2"])
def test_a_reachable_gateway_answers(link, gateway):
    assert probe_gateway(link.here, "pa", gateway, timeout=1.0) is True


@pytest.mark.parametrize("gateway", ["10.77.0.50", "fd77::50"])
def test_an_absent_gateway_times_out_within_the_bound(link, gateway):
    started = time.monotonic()
    assert probe_gateway(link.here, "pa", gateway, timeout=0.4) is False
    assert time.monotonic() - started < 2.0  # generous: the bound is 0.4 s


def listen(netns: str, ifname: str, proto: int, seconds: float) -> tuple[list[bytes], threading.Thread]:
    """Frames of `proto` arriving on `ifname` in `netns` during `seconds`, and the listening thread
    (already listening on return)."""
    frames: list[bytes] = []
    opened = threading.Event()

    def run() -> None:
        def work() -> None:
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto)) as sock:
                sock.bind((ifname, proto))
                sock.settimeout(0.1)
                opened.set()
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    try:
                        frames.append(sock.recv(65535))
                    except socket.timeout:
                        continue
        in_netns(netns, work)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    opened.wait(2)
    return frames, thread


def test_a_gratuitous_arp_is_seen_by_a_listener(link):
    frames, listener = listen(link.there, "pb", 0x0806, 0.5)
    announce(link.here, "pa", "10.77.0.1")
    listener.join()
    garps = [f for f in frames if f[0:6] == b"\xff" * 6 and f[28:32] == f[38:42] == bytes([10, 77, 0, 1])]
    assert garps, frames


def test_an_unsolicited_neighbour_advertisement_is_seen_by_a_listener(link):
    frames, listener = listen(link.there, "pb", 0x86DD, 0.5)
    announce(link.here, "pa", "fd77::1")
    listener.join()
    target = socket.inet_pton(socket.AF_INET6, "fd77::1")
    assert [f for f in frames if f[20] == 58 and f[54] == 136 and f[62:78] == target], frames


def test_a_missing_namespace_or_interface_is_a_probe_error(link):
    with pytest.raises(ProbeError):
        probe_gateway("no-such-netns-xyz", "pa", "10.77.0.2", timeout=0.1)
    with pytest.raises(ProbeError):
        probe_gateway(link.here, "nope0", "10.77.0.2", timeout=0.1)
