"""Raw capture archive: every fetched feed document and page as WARC request + response records.

Written with warcio to any fsspec location (a local folder by default, ``s3://...`` etc. in production).
Append-only and partitioned by fetch time::

    <root>/YYYY/MM/DD/HH/<YYYYmmddTHHMMSS>-<host>-<pid>-<random>.warc.gz

Each :class:`Archive` instance writes its own files, so parallel writers (threads share an instance; Airflow's
mapped tasks are separate processes with their own instances) never share a file. Files are closed when the
fetch hour changes, when they reach ``ArchiveOptions.max_file_bytes`` and on :meth:`Archive.close`. Every
record pair is its own gzip member and flushed at once, so a local reader sees it immediately and a crash
loses at most the record being written (object stores only publish a file on close).
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import threading
import uuid
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

import fsspec
from fsspec.core import url_to_fs
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.config import ArchiveOptions
from ingest.errors import ArchiveError, BadURL
from ingest.response import ArchiveRef, Response
from ingest.text import clean
from ingest.urls import strip_userinfo

__all__ = ["Archive", "ArchiveRef"]

logger = logging.getLogger(__name__)

#: Our own WARC headers; user metadata goes under ``WARC-X-News-<key>``.
H_KIND = "WARC-X-Ingest-Kind"
H_REQUESTED = "WARC-X-Ingest-Requested-URI"
H_FETCHED_AT = "WARC-X-Ingest-Fetched-At"
META_PREFIX = "WARC-X-News-"
#: Response headers that describe the transfer, not the stored (decoded) body.
_TRANSFER_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
#: Never written: credentials we might have sent, session cookies the server handed out.
SECRET_REQUEST_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
SECRET_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})


#: ``http(s)://user:password@`` inside a body (JSON escapes its slashes): the credentials part is removed.
_BODY_USERINFO_RE = re.compile(rb"(?i)(https?:(?:\\?/){2})[^\s/\\?#@\"'<>]+@")
#: What every match of that pattern holds, less the scheme's letters: a fast first test (a literal first byte).
_USERINFO_AFTER_SCHEME = re.compile(rb":(?:\\?/){2}[^\s/\\?#@\"'<>]+@")


def redact_userinfo(body: bytes) -> bytes:
    """``body`` with the userinfo of every http(s) URL in it removed: a feed that lists
    ``http://user:pass@host/`` is archived as listing ``http://host/`` (what is fetched anyway).

    The case-insensitive pattern over a whole page cost about 1.9 ms, and most pages hold an "@" (addresses,
    handles) but none of these URLs; a page where the cheaper pattern finds nothing cannot match either."""
    if b"@" not in body or _USERINFO_AFTER_SCHEME.search(body) is None:
        return body
    return _BODY_USERINFO_RE.sub(rb"\1", body)


def _no_userinfo(url: str) -> str:
    try:
        return strip_userinfo(url)
    except BadURL:
        return url


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _hour_floor(value: datetime) -> datetime:
    return _utc(value).replace(minute=0, second=0, microsecond=0)


def _partition(value: datetime) -> str:
    return _utc(value).strftime("%Y/%m/%d/%H")


class _OpenFile:
    def __init__(self, handle: IO[bytes], path: str, hour: datetime) -> None:
        self.handle = handle
        self.path = path
        self.hour = hour
        self.size = 0


class Archive:
    """Append-only WARC archive on a local folder or any fsspec URL."""

    def __init__(self, options: ArchiveOptions) -> None:
        self.options = options
        self.root = str(options.root).rstrip("/")
        try:
            self.fs, self._root_path = url_to_fs(self.root)
        except (ValueError, ImportError) as exc:
            raise ArchiveError(f"archive root {self.root!r} is not usable: {exc}") from exc
        self._protocol = urlsplit(self.root).scheme if "://" in self.root else ""
        self._lock = threading.Lock()
        self._current: _OpenFile | None = None
        self._writer_tag = f"{socket.gethostname().split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    # --- writing -----------------------------------------------------------------------------------------

    def _full(self, path: str) -> str:
        """A path as given to the user: with the protocol for remote filesystems."""
        if self._protocol and not path.startswith(f"{self._protocol}://"):
            return f"{self._protocol}://{path}"
        return path

    def _file_for(self, fetched_at: datetime) -> _OpenFile:
        hour = _hour_floor(fetched_at)
        current = self._current
        if current is not None and current.hour == hour and current.size < self.options.max_file_bytes:
            return current
        self._close_current()
        directory = f"{self._root_path}/{_partition(hour)}"
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{self._writer_tag}-{uuid.uuid4().hex[:6]}.warc.gz"
        path = f"{directory}/{name}"
        try:
            self.fs.makedirs(directory, exist_ok=True)
            handle = self.fs.open(path, "wb")
        except OSError as exc:
            raise ArchiveError(f"cannot create WARC file {path}: {exc}") from exc
        self._current = _OpenFile(handle, path, hour)
        return self._current

    def _close_current(self) -> None:
        if self._current is not None:
            try:
                self._current.handle.close()
            except OSError as exc:
                raise ArchiveError(f"cannot close WARC file {self._current.path}: {exc}") from exc
            finally:
                self._current = None

    def write(
        self,
        *,
        url: str,
        final_url: str,
        kind: str,
        request_headers: Mapping[str, str],
        status: int,
        response_headers: Mapping[str, str],
        body: bytes,
        fetched_at: datetime,
        metadata: Mapping[str, str] | None = None,
    ) -> ArchiveRef:
        """Append a request and a response record; returns where the response record is.

        Credentials never reach the archive: userinfo is stripped from the URLs (the record's and those in the
        body), and the Authorization, Cookie and Proxy-Authorization request headers and the Set-Cookie
        response headers are not written.
        """
        fetched_at = _utc(fetched_at)
        url, final_url = _no_userinfo(url), _no_userinfo(final_url)
        body = redact_userinfo(body)
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=False, warc_version="WARC/1.1")
        target = urlsplit(final_url)
        request_line = f"GET {target.path or '/'}{'?' + target.query if target.query else ''} HTTP/1.1"
        req_headers = [
            (k, _header_value(v)) for k, v in request_headers.items() if k.lower() not in SECRET_REQUEST_HEADERS
        ]
        if not any(k.lower() == "host" for k, _ in req_headers):
            req_headers.insert(0, ("Host", target.netloc.rpartition("@")[2]))
        common: dict[str, str] = {
            "WARC-Date": fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            H_KIND: kind,
            H_REQUESTED: url,
            H_FETCHED_AT: fetched_at.isoformat(),
        }
        for key, value in (metadata or {}).items():
            common[f"{META_PREFIX}{key}"] = _header_value(value)
        resp_headers = [
            (k, _header_value(v))
            for k, v in response_headers.items()
            if k.lower() not in _TRANSFER_HEADERS and k.lower() not in SECRET_RESPONSE_HEADERS
        ]
        for key, value in response_headers.items():
            if key.lower() == "content-encoding":
                resp_headers.append(("X-Archive-Orig-Content-Encoding", _header_value(value)))
        resp_headers.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(f"{status} {_reason(status)}", resp_headers, protocol="HTTP/1.1")
        response = writer.create_warc_record(
            final_url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http_headers,
            warc_headers_dict=dict(common),
        )
        request = writer.create_warc_record(
            final_url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=StatusAndHeaders(request_line, req_headers, is_http_request=True),
            warc_headers_dict=dict(common),
        )
        record_id = str(response.rec_headers.get_header("WARC-Record-ID"))
        request.rec_headers.add_header("WARC-Concurrent-To", record_id)
        members = []
        try:
            for record in (response, request):  # one gzip member per record, as WARC readers expect
                writer.write_record(record)
                members.append(_gzip_member(buffer.getvalue()))
                buffer.seek(0)
                buffer.truncate()
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"cannot serialise WARC record for {final_url}: {exc}") from exc
        data = b"".join(members)
        with self._lock:
            current = self._file_for(fetched_at)
            try:
                current.handle.write(data)
                current.handle.flush()
            except OSError as exc:
                raise ArchiveError(f"cannot write WARC file {current.path}: {exc}") from exc
            current.size += len(data)
            path = current.path
        return ArchiveRef(path=self._full(path), record_id=record_id)

    def write_response(
        self, response: Response, *, metadata: Mapping[str, str] | None = None, fetched_at: datetime | None = None
    ) -> ArchiveRef:
        """:meth:`write` of a fetched :class:`~ingest.response.Response` (``fetched_at`` overrides its time)."""
        return self.write(
            url=response.url,
            final_url=response.final_url,
            kind=response.kind,
            request_headers=response.request_headers,
            status=response.status,
            response_headers=response.headers,
            body=response.content,
            fetched_at=fetched_at or response.fetched_at,
            metadata=metadata,
        )

    def close(self) -> None:
        with self._lock:
            self._close_current()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- reading -----------------------------------------------------------------------------------------

    def files(self, start: datetime, end: datetime) -> list[str]:
        """WARC files in the hour partitions that overlap ``[start, end)``, oldest partition first."""
        start, end = _utc(start), _utc(end)
        out: list[str] = []
        hour = _hour_floor(start)
        while hour < end:
            directory = f"{self._root_path}/{_partition(hour)}"
            try:
                names = sorted(self.fs.glob(f"{directory}/*.warc.gz"))
            except FileNotFoundError:
                names = []
            except OSError as exc:
                raise ArchiveError(f"cannot list {directory}: {exc}") from exc
            out.extend(self._full(str(n)) for n in names)
            hour += timedelta(hours=1)
        return out

    def replay(
        self, start: datetime, end: datetime, *, kind: str | None = None
    ) -> Iterator[tuple[Response, dict[str, str]]]:
        """Every response fetched in ``[start, end)`` (optionally one kind) with metadata, by fetch time."""
        start, end = _utc(start), _utc(end)
        hour = _hour_floor(start)
        while hour < end:
            batch: list[tuple[Response, dict[str, str]]] = []
            for path in self.files(hour, hour + timedelta(hours=1)):
                batch.extend(self._read_file(path, start, end, kind))
            batch.sort(key=lambda item: (item[0].fetched_at, item[0].final_url))
            yield from batch
            hour += timedelta(hours=1)

    def records(self, path: str, record_ids: set[str]) -> list[tuple[Response, dict[str, str]]]:
        """The response records of one WARC file with these WARC-Record-IDs (in file order)."""
        return [
            item
            for item in self._read_file(path, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC), None)
            if item[0].archive_ref is not None and item[0].archive_ref.record_id in record_ids
        ]

    def _read_file(
        self, path: str, start: datetime, end: datetime, kind: str | None
    ) -> list[tuple[Response, dict[str, str]]]:
        out: list[tuple[Response, dict[str, str]]] = []
        try:
            with fsspec.open(path, "rb") as handle:
                for record in ArchiveIterator(handle):
                    if record.rec_type != "response":
                        continue
                    # the time and kind come from the record's headers: a record left out is never read
                    # (a feed replay skips every page's body)
                    fetched_at = _fetched_at(record)
                    if fetched_at is None or not (start <= fetched_at < end):
                        continue
                    if kind is not None and _kind(record) != kind:
                        continue
                    out.append(_to_response(record, path, fetched_at))
        except (ArchiveLoadFailed, EOFError, zlib.error) as exc:
            # a file still being written by another process, or cut short by a crash: keep what was read
            logger.warning("archive: %s is truncated or unreadable after %d records: %s", path, len(out), exc)
        except OSError as exc:
            raise ArchiveError(f"cannot read WARC file {path}: {exc}") from exc
        return out


def _fetched_at(record: Any) -> datetime | None:
    """When a response record was fetched (our header, else WARC-Date; None: neither)."""
    headers = record.rec_headers
    fetched_raw = headers.get_header(H_FETCHED_AT)
    if fetched_raw:
        return _utc(datetime.fromisoformat(fetched_raw))
    date_raw = str(headers.get_header("WARC-Date") or "").replace("Z", "+00:00")
    return _utc(datetime.fromisoformat(date_raw)) if date_raw else None


def _kind(record: Any) -> str:
    return str(record.rec_headers.get_header(H_KIND) or "page")


def _to_response(record: Any, path: str, fetched_at: datetime) -> tuple[Response, dict[str, str]]:
    headers = record.rec_headers
    final_url = str(headers.get_header("WARC-Target-URI") or "")
    url = str(headers.get_header(H_REQUESTED) or final_url)
    kind = _kind(record)
    metadata = {
        name[len(META_PREFIX) :]: value
        for name, value in headers.headers
        if name.lower().startswith(META_PREFIX.lower())
    }
    http = record.http_headers
    status = int(http.get_statuscode() or 0) if http is not None else 0
    resp_headers: dict[str, str] = {}
    if http is not None:
        for name, value in http.headers:
            key = name.lower()
            resp_headers[key] = f"{resp_headers[key]}, {value}" if key in resp_headers else value
    body = record.content_stream().read()
    ref = ArchiveRef(path=path, record_id=str(headers.get_header("WARC-Record-ID") or ""))
    response = Response(
        url=url,
        final_url=final_url,
        status=status,
        headers=resp_headers,
        content=body,
        fetched_at=fetched_at,
        kind=kind,
        archive_ref=ref,
    )
    return response, metadata


#: warcio's own gzip writer compresses at level 9, the capture's largest CPU cost after the network. Level 3
#: in one call per record: 30 % less CPU per page (4.2 vs 6.0 ms on the benchmark pages) for 12 % more bytes.
_GZIP_LEVEL = 3


def _gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


def _header_value(value: object) -> str:
    """Header values cannot span lines, nor hold what UTF-8 cannot encode (a lone surrogate from one feed's
    entry title would otherwise fail the record, and with it the whole capture batch, as an ArchiveError)."""
    return " ".join(clean(str(value)).split())


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
