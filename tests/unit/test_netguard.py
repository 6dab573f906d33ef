"""The loopback-only net under every test (evaluation.netguard): it refuses before a packet leaves.

No test here sends anything outside loopback: each first checks that the net judges the address as outside
(so the wrapper raises before the real connect), and only then tries it.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest

from evaluation import netguard
from evaluation.netguard import sitecustomize as net

pytestmark = pytest.mark.unit

OUTSIDE = [("10.0.0.1", 80), ("169.254.169.254", 80), ("93.184.215.14", 443), ("::ffff:10.0.0.1", 80, 0, 0)]


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        (("127.0.0.1", 80), True),
        (("127.8.9.10", 80), True),
        (("::1", 80, 0, 0), True),
        (("::ffff:127.0.0.1", 80, 0, 0), True),
        (("localhost", 80), True),
        ("/tmp/some.sock", True),
        (("10.0.0.1", 80), False),
        (("0.0.0.0", 80), False),
        (("::ffff:10.0.0.1", 80, 0, 0), False),
        (("2002:7f00:1::", 80, 0, 0), False),
        (("example.org", 80), False),
        ((b"example.org", 80), False),
    ],
)
def test_what_counts_as_staying_on_this_machine(address: object, inside: bool) -> None:
    assert net._checked(address) is inside


@pytest.mark.parametrize("address", OUTSIDE, ids=lambda a: str(a[0]))
def test_connects_outside_loopback_are_refused_and_recorded(address: tuple[object, ...]) -> None:
    assert getattr(socket.socket, "_netguard", False), "the test session installs the net (tests/conftest.py)"
    assert not net._checked(address)
    family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
    before = len(netguard.attempts())
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(OSError, match="netguard") as info:
        sock.connect(address)
    assert info.value.errno == errno.ENETUNREACH
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        assert sock.connect_ex(address) == errno.ENETUNREACH
        with pytest.raises(OSError, match="netguard"):
            sock.sendto(b"x", address)
    assert [a.operation for a in netguard.attempts()[before:]] == ["connect", "connect_ex", "sendto"]
    del net._attempts[before:]  # the autouse check would (rightly) fail this test for them


def test_names_are_not_looked_up() -> None:
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.invalid", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)
    assert socket.getaddrinfo("localhost", 80)


def test_loopback_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


def test_a_child_process_loads_the_net_and_logs_its_refusals(tmp_path: object) -> None:
    log = f"{tmp_path}/net.log"
    code = (
        "import socket, sys\n"
        "if not getattr(socket.socket, '_netguard', False): sys.exit(3)\n"  # never try without the net
        "import sitecustomize\n"
        "if sitecustomize._checked(('10.0.0.1', 9)): sys.exit(4)\n"
        "try:\n"
        "    socket.create_connection(('10.0.0.1', 9), timeout=1)\n"
        "except OSError as exc:\n"
        "    sys.exit(0 if 'netguard' in str(exc) else 5)\n"
        "sys.exit(6)\n"
    )
    env = {**os.environ, net.LOG_ENV: log, "PYTHONPATH": net.SITE_DIR}
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=60, check=False)
    assert done.returncode == 0
    with open(log, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == 1 and "connect" in lines[0] and "10.0.0.1" in lines[0]
