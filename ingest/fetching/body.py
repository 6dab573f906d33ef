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
#: Bytes of a "deflate" body read as zlib without output after which it is taken for zlib for good.
_PROBE_BYTES = 4_096


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
        #: "deflate" is tried as zlib first; until that reading yields output, what was fed is kept to start
        #: again as raw deflate (a first chunk of one byte cannot tell them apart)
        self._deflate_probe = False
        self._probe = b""
        self._tail = b""
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
        out: list[bytes] = []
        # a loop, not recursion: a body may hold any number of gzip members (hundreds of empty ones included)
        while chunk:
            if self._obj.eof:
                chunk = self._next_member(chunk)
                if not chunk:
                    break
            if self._deflate_probe:
                self._probe += chunk
            try:
                piece: bytes = self._obj.decompress(chunk, self.limit - self.produced + 1)
            except zlib.error as exc:
                if self._deflate_probe:
                    # "deflate" sent raw (no zlib header), as some servers do: start again from the first byte
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._deflate_probe = False
                    chunk, self._probe = self._probe, b""
                    continue
                raise IncompleteBody(f"corrupt compressed body: {exc}", reason="bad_encoding", url=self.url) from exc
            if piece or len(self._probe) > _PROBE_BYTES:
                # the zlib reading produced output (or survived long enough): it is not raw deflate
                self._deflate_probe = False
                self._probe = b""
            self.produced += len(piece)
            out.append(piece)
            if self.produced > self.limit or self._obj.unconsumed_tail:
                raise self._bomb()
            chunk = self._obj.unused_data if self._obj.eof else b""
        return b"".join(out)

    def _next_member(self, rest: bytes) -> bytes:
        """What of ``rest`` (bytes after a finished stream) starts the next gzip member; b"" when nothing does."""
        rest = self._tail + rest
        self._tail = b""
        if self._gzip:
            stripped = rest.lstrip(b"\0")
            if stripped[:2] == _GZIP_MAGIC:
                # concatenated gzip members (RFC 1952 allows them): decode every member, under the same cap
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
                return stripped
            if stripped and _GZIP_MAGIC.startswith(stripped):
                self._tail = stripped  # the next member's magic is split across two chunks
                return b""
        if rest.strip(b"\0\r\n \t"):
            logger.debug("ignoring %d bytes after the end of the compressed body of %s", len(rest), self.url)
        return b""

    def flush(self) -> bytes:
        """The rest of the output; raises IncompleteBody when the compressed stream did not end."""
        if self._obj is None:
            return b""
        head = b""
        if self._deflate_probe and self._probe and not self._obj.eof:
            # a short "deflate" body that never read as zlib: one last try as raw deflate
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            self._deflate_probe = False
            probe, self._probe = self._probe, b""
            head = self.feed(probe)
        try:
            out: bytes = self._obj.flush()
        except zlib.error as exc:
            raise IncompleteBody(f"corrupt compressed body: {exc}", reason="bad_encoding", url=self.url) from exc
        self.produced += len(out)
        if self.produced > self.limit:
            raise self._bomb()
        if self._fed and not self._obj.eof:
            raise IncompleteBody(f"compressed body ended early after {self.produced} decoded bytes", url=self.url)
        return head + out


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
                    late = self.fired
                if late:
                    # the budget ran out while resolving or connecting: the request must not start now
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
