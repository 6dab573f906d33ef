"""Pinning over TLS: the connection goes to the vetted address while SNI, certificate checks and the Host header
keep the name (a self-signed certificate for ``pinned.test``, a TLS server on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingest.errors import BlockedURL
from ingest.fetching import AddressGuard, PinnedTransport

pytestmark = pytest.mark.unit

NAME = "pinned.test"


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.seen.append(self.headers.get("Host", ""))
        body = b"<html><body>pinned</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]
    sni: list[str | None]


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _TLSServer(("127.0.0.1", 0), _Handler)
    server.seen, server.sni = [], []
    context.sni_callback = lambda sock, name, ctx: server.sni.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()
    thread.join(5)
    assert server.seen, "the server saw no request"
    assert all(host == f"{NAME}:{server.server_address[1]}" for host in server.seen)  # Host keeps the name
    assert server.sni and all(name == NAME for name in server.sni)  # so does SNI


def test_tls_connection_is_pinned_and_keeps_the_name(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    asked: list[str] = []

    def resolver(host: str) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    guard = AddressGuard((f"127.0.0.1:{port}",), resolver)
    with PinnedTransport(guard, verify=ssl.create_default_context(cafile=str(cert))) as transport:
        response = transport.handle_request(httpx.Request("GET", f"https://{NAME}:{port}/x"))
        response.read()
    assert response.status_code == 200 and response.content == b"<html><body>pinned</body></html>"
    assert asked == [NAME]


def test_tls_connection_to_a_refused_address_is_never_made(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    guard = AddressGuard((), lambda host: ["127.0.0.1"])  # loopback, not allow-listed
    with (
        PinnedTransport(guard, verify=ssl.create_default_context(cafile=str(cert))) as transport,
        pytest.raises(BlockedURL),
    ):
        transport.handle_request(httpx.Request("GET", f"https://{NAME}:{port}/x"))
    # allow one pinned request so that the fixture's own checks have something to look at
    allowed = AddressGuard((f"127.0.0.1:{port}",), lambda host: ["127.0.0.1"])
    with PinnedTransport(allowed, verify=ssl.create_default_context(cafile=str(cert))) as transport:
        transport.handle_request(httpx.Request("GET", f"https://{NAME}:{port}/y")).read()
