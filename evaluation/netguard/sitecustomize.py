"""Loopback only, enforced below every library: nothing a test or a harness runs may reach an address outside
127.0.0.0/8 (or ``::1``), not even when the pipeline's own SSRF guard has a bug.

The pipeline's guard (:mod:`ingest.fetching.guard`) is what the fault and hostile tests check, and they feed it
private, link-local and metadata addresses on purpose. Were it to let one through, the connection would leave the
machine. This net sits under it: :func:`install` wraps ``socket.socket.connect``, ``connect_ex`` and ``sendto`` so
that an address outside the loopback range is refused (``OSError``, ``ENETUNREACH``) before any packet is sent, and
makes ``socket.getaddrinfo`` fail for every name but this machine's own (a lookup asks the remote resolver). Each
refusal is recorded (:func:`attempts`, and one line in the file named by ``$NETGUARD_LOG``), so the caller can
fail the run: a refused connect alone would look like a dead host, which the pipeline skips quietly.

Tests install it in the pytest process (``tests/conftest.py``) and, through ``PYTHONPATH``, in every Python process
they start (Airflow's scheduler, API server and task runners; the CLI): this file is then imported at interpreter
start-up as ``sitecustomize``. It is self-contained for that reason (those processes cannot import ``evaluation``).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import threading
from pathlib import Path
from typing import Any, NamedTuple

#: File that every process appends refused attempts to (one line each), so the test session sees its children's.
LOG_ENV = "NETGUARD_LOG"
#: The directory to put first on ``PYTHONPATH`` so that a child process loads this module at start-up.
SITE_DIR = str(Path(__file__).resolve().parent)

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


class Attempt(NamedTuple):
    """One refused operation: what was tried (connect, connect_ex, sendto) and towards what."""

    operation: str
    target: str


_attempts: list[Attempt] = []
_lock = threading.Lock()


def attempts() -> list[Attempt]:
    """Every refusal in this process so far (a copy)."""
    with _lock:
        return list(_attempts)


def _loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _refuse(operation: str, target: object) -> OSError:
    attempt = Attempt(operation, repr(target))
    with _lock:
        _attempts.append(attempt)
    log = os.environ.get(LOG_ENV)
    if log:
        try:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()} {attempt.operation} {attempt.target}\n")
        except OSError:
            pass
    return OSError(errno.ENETUNREACH, f"netguard: {operation} to {target!r} refused (loopback only)")


def _checked(address: Any) -> bool:
    """True when ``address`` (a socket address) stays on this machine: loopback IPs, local names, Unix paths."""
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX path (str/bytes) or an abstract socket
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if _loopback(host):
        return True
    # connect() resolves a name itself, in C, past the getaddrinfo wrapper: only loopback names are let through
    return host.lower().rstrip(".") in _local_names()


def _local_names() -> set[str]:
    return _LOCAL_NAMES | {socket.gethostname().lower()}


def install() -> None:
    """Put the net in place in this process (idempotent)."""
    if getattr(socket.socket, "_netguard", False):
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _checked(address):
            raise _refuse("connect", address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _checked(address):
            _refuse("connect_ex", address)
            return errno.ENETUNREACH
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        address = args[-1] if args else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _checked(address):
            raise _refuse("sendto", address)
        return real_sendto(self, data, *args)  # type: ignore[arg-type]

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if name is not None and str(name).lower().rstrip(".") not in _local_names():
            try:
                ipaddress.ip_address(str(name).strip("[]").split("%", 1)[0])  # a literal needs no query
            except ValueError:
                # like an unknown name, without asking anyone; not an attempt to record: names are resolved
                # before the guard judges them, so a test of the guard's DNS handling stubs its resolver
                raise socket.gaierror(socket.EAI_NONAME, f"netguard: no external name lookups ({name!r})") from None
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    socket.socket._netguard = True  # type: ignore[attr-defined]


if __name__ == "sitecustomize":  # loaded at start-up of a process a test started (PYTHONPATH)
    install()
