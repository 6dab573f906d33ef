"""A small static HTTP server on 127.0.0.1 for benchmarks: a mapping of paths to bodies, with ETag/304.

The benchmarks serve real pages of ``../shared/eval`` from memory through it (nothing is written into the
project), behind feeds generated here, so that the pipeline fetches them the way it fetches a publisher.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Resource:
    body: bytes
    content_type: str

    @functools.cached_property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


def rss(title: str, links: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 document listing ``(title, url)`` items."""
    items = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(u)}</link><guid>{escape(u)}</guid>"
        f"<pubDate>{formatdate(1_700_000_000 + i * 60, usegmt=True)}</pubDate></item>"
        for i, (t, u) in enumerate(links)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>http://127.0.0.1/</link><description>benchmark feed</description>{items}</channel></rss>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        resource = self.server.resources.get(self.path.split("?", 1)[0])
        with self.server.lock:
            self.server.hits += 1
        if resource is None:
            self._reply(404, b"not found", "text/plain")
            return
        if self.headers.get("If-None-Match") == resource.etag:
            with self.server.lock:
                self.server.not_modified += 1
            self.send_response(304)
            self.send_header("ETag", resource.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._reply(200, resource.body, resource.content_type, etag=resource.etag)

    def _reply(self, status: int, body: bytes, content_type: str, *, etag: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a task process exiting with a kept-alive connection) is no error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __init__(self, resources: Mapping[str, Resource]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.resources = dict(resources)
        self.lock = threading.Lock()
        self.hits = 0
        self.not_modified = 0


class PageServer:
    """``with PageServer({"/a.html": Resource(...)}) as server: server.url("/a.html")``.

    The server runs in a process of its own, as a publisher's server would: in the benchmark's process its
    threads took about 1 ms of CPU per page, which counted as the pipeline's, and competed with the capture's
    threads for the interpreter. ``add`` and the counters go through a pipe and return once the server has
    them."""

    def __init__(self, resources: Mapping[str, Resource]) -> None:
        ctx = multiprocessing.get_context("fork")  # the pages are inherited, not copied through the pipe
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(dict(resources), child), name="pageserver", daemon=True)
        self._port = 0

    @property
    def pid(self) -> int | None:
        """The server's process (not the pipeline's: CPU accounting leaves it out)."""
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def _ask(self, *command: Any) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    @property
    def hits(self) -> int:
        return int(self._ask("hits"))

    @property
    def not_modified(self) -> int:
        return int(self._ask("not_modified"))

    def reset_counts(self) -> None:
        self._ask("reset")

    def add(self, path: str, resource: Resource) -> None:
        self._ask("add", path, resource)

    def __enter__(self) -> PageServer:
        self._process.start()
        self._port = int(self._conn.recv())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(EOFError, OSError):
            self._ask("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


def _serve(resources: dict[str, Resource], conn: Connection) -> None:
    """The server process: serves in a thread, answers the parent's commands until told to stop."""
    server = _Server(resources)
    thread = threading.Thread(target=server.serve_forever, name="pageserver", daemon=True)
    thread.start()
    conn.send(server.server_address[1])
    try:
        while True:
            command, *args = conn.recv()
            if command == "stop":
                conn.send(None)
                return
            if command == "add":
                path, resource = args
                server.resources[path] = resource
                conn.send(None)
            elif command == "reset":
                with server.lock:
                    server.hits = server.not_modified = 0
                conn.send(None)
            else:
                conn.send(getattr(server, command))
    except EOFError:  # the parent went away
        return
    finally:
        server.shutdown()
        server.server_close()
