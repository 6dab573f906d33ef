"""Reading a response body: streaming Content-Encoding decoding under caps, and the wall-clock watchdog.

A body is accepted only when it is complete: a gzip or deflate stream that ends before its end marker is an
:class:`~ingest.errors.IncompleteBody` (transient: the next attempt usually gets it whole), never a shorter
page.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from ingest.errors import IncompleteBody, TooLarge, UnsupportedContentType

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"


class Decoder:
    """Streaming Content-Encoding decoder (identity, gzip with concatenated members, zlib or raw deflate)
    with an output cap (``decompression_bomb``) and an end-of-stream check (``incomplete_body``)."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        self.limit = limit
        self.url = url
        self.produced = 0
        self._fed = False
        encoding = encoding.strip().lower()
        self._obj: Any
        self._deflate_probe = False
        self._gzip = encoding in ("gzip", "x-gzip")
        if self._gzip:
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._obj = zlib.decompressobj()
            self._deflate_probe = True
        elif encoding in ("", "identity"):
            self._obj = None
        else:
            raise UnsupportedContentType(
                f"unsupported Content-Encoding {encoding!r}", reason="unsupported_encoding", url=url
            )

    def _bomb(self) -> TooLarge:
        return TooLarge(f"body inflates beyond {self.limit} bytes", reason="decompression_bomb", url=self.url)

    def feed(self, chunk: bytes) -> bytes:
        if self._obj is None or not chunk:
            return chunk
        self._fed = True
        if self._obj.eof:
            return self._after_end(chunk)
        try:
            out: bytes = self._obj.decompress(chunk, self.limit - self.produced + 1)
        except zlib.error as exc:
            if self._deflate_probe and self.produced == 0:
                # "deflate" sent raw (no zlib header), as some servers do
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                self._deflate_probe = False
                return self.feed(chunk)
            raise IncompleteBody(f"corrupt compressed body: {exc}", reason="bad_encoding", url=self.url) from exc
        self._deflate_probe = False
        self.produced += len(out)
        if self.produced > self.limit or self._obj.unconsumed_tail:
            raise self._bomb()
        if self._obj.eof and self._obj.unused_data:
            return out + self._after_end(self._obj.unused_data)
        return out

    def _after_end(self, rest: bytes) -> bytes:
        if self._gzip and rest.lstrip(b"\0")[:2] == _GZIP_MAGIC:
            # concatenated gzip members (RFC 1952 allows them): decode every member, under the same cap
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return self.feed(rest.lstrip(b"\0"))
        if rest.strip(b"\0\r\n \t"):
            logger.debug("ignoring %d bytes after the end of the compressed body of %s", len(rest), self.url)
        return b""

    def flush(self) -> bytes:
        """The rest of the output; raises IncompleteBody when the compressed stream did not end."""
        if self._obj is None:
            return b""
        try:
            out: bytes = self._obj.flush()
        except zlib.error as exc:
            raise IncompleteBody(f"corrupt compressed body: {exc}", reason="bad_encoding", url=self.url) from exc
        self.produced += len(out)
        if self.produced > self.limit:
            raise self._bomb()
        if self._fed and not self._obj.eof:
            raise IncompleteBody(f"compressed body ended early after {self.produced} decoded bytes", url=self.url)
        return out


class Watchdog:
    """Shuts a request's socket down when its wall-clock budget is spent.

    The read timeout restarts with every byte, so a server that trickles its *headers* would otherwise hold a
    request for ever (the body loop checks the deadline itself). The socket comes from httpcore's trace hook
    when the connection is opened (the fetcher does not reuse connections).
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sock = sock

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
