"""A local HTTP server for the bundled sample corpus (``seeds/sample``), for tests and the demo.

Standard library only. It serves the files under ``<root>/site/`` the way a well-behaved news site would:

* ``{{BASE_URL}}`` in text files is replaced by the server's own address, so feeds, canonical links and
  ``og:url`` point back at it;
* ``Content-Type`` with a charset taken from the document (XML declaration or ``<meta charset>``), so the
  ISO-8859-1 feed is announced as such;
* a strong ``ETag`` (hash of the rendered bytes) and ``Last-Modified`` (file mtime), and ``304 Not Modified``
  for matching ``If-None-Match`` / ``If-Modified-Since``;
* ``404`` for anything missing, ``robots.txt`` allowing everything, directory URLs served from ``index.html``.

Every request is recorded in :attr:`SampleServer.requests` (method, path, headers) so tests can assert on what
a client sent. Tests can also replace or add single responses with :meth:`SampleServer.set_response`.

    with SampleServer() as server:
        feeds_toml = server.render_feeds_file(tmp_path)
        ...

Run it by hand with ``python -m evaluation.devserver --port 8000 --feeds-out /tmp/feeds.toml``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import mimetypes
import posixpath
import re
import signal
import threading
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from ingest.config import PROJECT_ROOT

logger = logging.getLogger(__name__)

PLACEHOLDER = b"{{BASE_URL}}"
DEFAULT_ROOT = PROJECT_ROOT / "seeds" / "sample"
ROBOTS_TXT = b"User-agent: *\nAllow: /\n"

_CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "text/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".txt": "text/plain",
    ".css": "text/css",
    ".js": "text/javascript",
    ".json": "application/json",
    ".toml": "text/plain",
}
_TEXT_TYPES = ("text/", "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/json")
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Response:
    """One rendered response (body already substituted)."""

    status: int
    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: float | None = None
    location: str | None = None


def content_type_for(path: Path, body: bytes) -> str:
    """``Content-Type`` for a file: type from the extension, charset from the document itself."""
    ctype = _CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    if ctype is None:
        return "application/octet-stream"
    if not ctype.startswith(_TEXT_TYPES):
        return ctype
    head = body[:1024]
    match = _XML_DECL.match(head) if "xml" in ctype else _META_CHARSET.search(head)
    charset = match.group(1).decode("ascii").lower() if match else "utf-8"
    return f"{ctype}; charset={charset}"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class SampleServer:
    """Serve ``<root>/site`` on 127.0.0.1 with ``{{BASE_URL}}`` substituted; see the module docstring."""

    def __init__(
        self, root: Path = DEFAULT_ROOT, host: str = "127.0.0.1", port: int = 0, public_url: str | None = None
    ) -> None:
        self.root = Path(root)
        #: The address clients use when it is not ``host:port`` (a container name behind ``0.0.0.0``).
        self.public_url = public_url.rstrip("/") if public_url else None
        self.site = self.root / "site"
        self.host = host
        self.port = port
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._overrides: dict[str, Response] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (no trailing slash)."""
        if self._base_url is None:
            raise RuntimeError("SampleServer is not running; call start() first")
        return self._base_url

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def start(self) -> SampleServer:
        if self._httpd is not None:
            return self
        if not self.site.is_dir():
            raise FileNotFoundError(f"no site directory at {self.site}")
        handler = type("_BoundHandler", (_Handler,), {"server_ref": self})
        httpd = ThreadingHTTPServer((self.host, self.port), handler)
        httpd.daemon_threads = True
        self.port = int(httpd.server_address[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self._base_url = self.public_url or f"http://{shown}:{self.port}"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sample-server", daemon=True
        )
        self._thread.start()
        logger.info("sample corpus served from %s at %s", self.site, self._base_url)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None
        logger.info("sample server at %s stopped", self._base_url)
        self._base_url = None

    def __enter__(self) -> SampleServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for tests and the demo ------------------------------------------------------------------------

    def render_feeds_file(self, dest: Path) -> Path:
        """Write ``<root>/feeds.toml`` with ``{{BASE_URL}}`` substituted to ``dest`` (a file or a directory)."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / "feeds.toml"
        text = (self.root / "feeds.toml").read_bytes().replace(PLACEHOLDER, self.base_url.encode("ascii"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(text)
        return dest

    def set_response(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        """Serve ``body`` at ``path`` instead of (or in addition to) the file there. ``str`` bodies are
        UTF-8 encoded and get ``{{BASE_URL}}`` substituted; use it to simulate an updated feed or an error."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if self._base_url is not None:
            raw = raw.replace(PLACEHOLDER, self._base_url.encode("ascii"))
        resp = Response(status, raw, content_type, etag=_etag(raw) if status == 200 else None)
        with self._lock:
            self._overrides[path] = resp

    def clear_responses(self) -> None:
        """Drop every response added with :meth:`set_response`."""
        with self._lock:
            self._overrides.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, headers))

    def resolve(self, url_path: str) -> Response:
        """Render the response for ``url_path`` (no conditional logic; see :meth:`_Handler._respond`)."""
        path = urlsplit(url_path).path or "/"
        with self._lock:
            override = self._overrides.get(path)
        if override is not None:
            return override
        decoded = unquote(path)
        normalized = posixpath.normpath(decoded)
        if decoded.endswith("/") and normalized != "/":
            normalized += "/"
        if ".." in decoded.split("/") or "\x00" in decoded:
            return _not_found()
        target = self.site / normalized.lstrip("/")
        if target.is_dir():
            if not path.endswith("/"):
                return Response(301, b"", "text/plain", location=path + "/")
            target = target / "index.html"
        try:
            target.resolve().relative_to(self.site.resolve())
        except ValueError:
            return _not_found()
        if not target.is_file():
            if path == "/robots.txt":
                return Response(200, ROBOTS_TXT, "text/plain; charset=utf-8", etag=_etag(ROBOTS_TXT))
            return _not_found()
        raw = target.read_bytes()
        ctype = content_type_for(target, raw)
        if ctype.startswith(_TEXT_TYPES):
            raw = raw.replace(PLACEHOLDER, self.base_url.encode("ascii"))
        return Response(200, raw, ctype, etag=_etag(raw), last_modified=int(target.stat().st_mtime))


def _not_found() -> Response:
    body = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"
    return Response(404, body, "text/html; charset=utf-8")


def _not_modified(resp: Response, if_none_match: str | None, if_modified_since: str | None) -> bool:
    if resp.status != 200:
        return False
    if if_none_match is not None:
        if resp.etag is None:
            return False
        tags = [t.strip() for t in if_none_match.split(",")]
        # weak comparison, as RFC 9110 requires for If-None-Match
        return "*" in tags or any(t.removeprefix("W/") == resp.etag for t in tags)
    if if_modified_since is not None and resp.last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return resp.last_modified <= since
    return False


class _Handler(BaseHTTPRequestHandler):
    server_ref: SampleServer
    protocol_version = "HTTP/1.1"
    server_version = "SampleNews/1.0"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        srv = self.server_ref
        srv.record(self.command, self.path, {k: v for k, v in self.headers.items()})
        resp = srv.resolve(self.path)
        if _not_modified(resp, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self._validators(resp)
            self.end_headers()
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        if resp.location is not None:
            self.send_header("Location", resp.location)
        self._validators(resp)
        self.end_headers()
        if send_body:
            self.wfile.write(resp.body)

    def _validators(self, resp: Response) -> None:
        if resp.etag is not None:
            self.send_header("ETag", resp.etag)
        if resp.last_modified is not None:
            self.send_header("Last-Modified", formatdate(resp.last_modified, usegmt=True))
        if resp.status == 200:
            self.send_header("Cache-Control", "max-age=60")

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


def main(argv: list[str] | None = None) -> None:
    """Serve the sample corpus until interrupted or terminated (for the demo)."""
    parser = argparse.ArgumentParser(prog="python -m evaluation.devserver", description=main.__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--feeds-out", type=Path, help="write the feeds file with the real base URL here")
    parser.add_argument(
        "--public-url",
        help="base URL clients reach the server at, when it differs from http://HOST:PORT (e.g. http://sample-site:8000)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SampleServer(args.root, args.host, args.port, args.public_url) as server:
        if args.feeds_out is not None:
            tmp = args.feeds_out.with_suffix(".tmp")
            server.render_feeds_file(tmp)
            tmp.replace(args.feeds_out)  # atomic: a reader polling for the file never sees half of it
            logger.info("serving %s; feeds file written to %s", server.base_url, args.feeds_out)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
