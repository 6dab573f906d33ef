"""The WARC archive: records, partitions, replay windows, parallel writers, fsspec roots."""

from __future__ import annotations

import gzip
import multiprocessing
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import pytest
from warcio.archiveiterator import ArchiveIterator

from ingest.archive import Archive, redact_userinfo
from ingest.config import ArchiveOptions
from ingest.errors import ArchiveError

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, 9, 59, 30, tzinfo=UTC)


def write(archive: Archive, n: int, when: datetime, kind: str = "page", **meta: str) -> str:
    ref = archive.write(
        url=f"https://example.org/{n}?utm_source=x",
        final_url=f"https://example.org/{n}",
        kind=kind,
        request_headers={"user-agent": "test", "if-none-match": '"e"'},
        status=200,
        response_headers={"content-type": "text/html; charset=utf-8", "content-encoding": "gzip", "etag": '"e"'},
        body=f"<html>page {n} – Köln</html>".encode(),
        fetched_at=when,
        metadata=meta or None,
    )
    return ref.path


def test_write_produces_standard_warc(tmp_path: Path) -> None:
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive:
        path = write(archive, 1, T0, feed="spiegel")
    assert path.startswith(str(tmp_path / "2026" / "11" / "20" / "09"))
    assert path.endswith(".warc.gz")
    with open(path, "rb") as handle:
        records = list((r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r) for r in ArchiveIterator(handle))
    # warcio reads records lazily; collect what we need while iterating
    with open(path, "rb") as handle:
        kinds = []
        for record in ArchiveIterator(handle):
            kinds.append(record.rec_type)
            if record.rec_type == "response":
                assert record.http_headers.get_statuscode() == "200"
                assert record.rec_headers.get_header("WARC-X-News-feed") == "spiegel"
                assert record.content_stream().read() == "<html>page 1 – Köln</html>".encode()
                assert record.http_headers.get_header("content-encoding") is None  # body is stored decoded
            if record.rec_type == "request":
                assert record.http_headers.get_header("if-none-match") == '"e"'
                assert record.rec_headers.get_header("WARC-Concurrent-To")
    assert kinds == ["response", "request"]
    assert len(records) == 2
    # every record pair is its own gzip member: the file is valid multi-member gzip
    assert gzip.decompress(Path(path).read_bytes()).startswith(b"WARC/1.1")


def test_replay_window_kind_and_order(tmp_path: Path) -> None:
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive:
        write(archive, 3, T0 + timedelta(minutes=2), feed="b")  # next hour partition
        write(archive, 1, T0, feed="a")
        write(archive, 2, T0 + timedelta(seconds=10), kind="feed")
        write(archive, 9, T0 - timedelta(hours=3))
        # readable while the writer is still open
        everything = list(archive.replay(T0 - timedelta(minutes=1), T0 + timedelta(hours=1)))
    assert [r.final_url for r, _ in everything] == [
        "https://example.org/1",
        "https://example.org/2",
        "https://example.org/3",
    ]
    first, meta = everything[0]
    assert meta == {"feed": "a"}
    assert first.url == "https://example.org/1?utm_source=x"
    assert first.fetched_at == T0
    assert first.kind == "page" and first.status == 200
    assert first.headers["etag"] == '"e"'
    assert first.text() == "<html>page 1 – Köln</html>"
    assert first.archive_ref is not None and first.archive_ref.record_id.startswith("<urn:uuid:")
    with Archive(ArchiveOptions(root=str(tmp_path))) as reader:
        pages = list(reader.replay(T0 - timedelta(minutes=1), T0 + timedelta(hours=1), kind="page"))
        assert [r.final_url for r, _ in pages] == ["https://example.org/1", "https://example.org/3"]
        # [start, end): end is exclusive
        assert list(reader.replay(T0 + timedelta(seconds=10), T0 + timedelta(seconds=10))) == []
        assert len(list(reader.replay(T0, T0 + timedelta(seconds=10)))) == 1
        assert len(reader.files(T0 - timedelta(hours=4), T0 + timedelta(hours=2))) == 3


def test_new_file_per_hour_and_size(tmp_path: Path) -> None:
    with Archive(ArchiveOptions(root=str(tmp_path), max_file_bytes=1)) as archive:
        a = write(archive, 1, T0)
        b = write(archive, 2, T0)
        c = write(archive, 3, T0 + timedelta(hours=1))
    assert len({a, b, c}) == 3


def _writer(root: str, worker: int) -> None:
    with Archive(ArchiveOptions(root=root)) as archive:
        for i in range(25):
            write(archive, worker * 100 + i, T0 + timedelta(seconds=i))


def test_parallel_processes_never_share_a_file(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive:
        assert len(archive.files(T0, T0 + timedelta(hours=1))) == 3
        urls = [r.final_url for r, _ in archive.replay(T0, T0 + timedelta(hours=1))]
    assert sorted(urls) == sorted(f"https://example.org/{w * 100 + i}" for w in range(3) for i in range(25))


def test_truncated_file_keeps_complete_records(tmp_path: Path) -> None:
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive:
        path = write(archive, 1, T0)
        first_size = Path(path).stat().st_size
        write(archive, 2, T0 + timedelta(seconds=1))
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: first_size + 60])  # a crash in the middle of the second response
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive:
        urls = [r.final_url for r, _ in archive.replay(T0, T0 + timedelta(minutes=1))]
    assert urls == ["https://example.org/1"]


def test_fsspec_memory_root() -> None:
    # fsspec's memory filesystem is one per process: a root of its own, removed afterwards
    name = f"acq-test-archive-{uuid.uuid4().hex}"
    root = f"memory://{name}"
    try:
        with Archive(ArchiveOptions(root=root)) as archive:
            path = write(archive, 5, T0)
            assert path.startswith("memory://")
            assert f"/{name}/2026/11/20/09/" in path
            archive.close()
            replayed = list(archive.replay(T0, T0 + timedelta(seconds=1)))
        assert [r.final_url for r, _ in replayed] == ["https://example.org/5"]
    finally:
        fsspec.filesystem("memory").rm(f"/{name}", recursive=True)


def test_credentials_never_reach_the_archive(tmp_path: Path) -> None:
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive:
        ref = archive.write(
            url="http://user:s3cret@example.org/a",
            final_url="http://user:s3cret@example.org/b",
            kind="feed",
            request_headers={
                "user-agent": "test",
                "Authorization": "Basic dXNlcjpzM2NyZXQ=",
                "cookie": "session=c00kie",
                "Proxy-Authorization": "Basic eA==",
            },
            status=200,
            response_headers={"content-type": "application/rss+xml", "set-cookie": "session=c00kie; Path=/"},
            body=b"<rss><item><link>http://user:s3cret@example.org/x</link></item></rss>",
            fetched_at=T0,
        )
    data = gzip.decompress(Path(ref.path).read_bytes())
    for secret in (b"s3cret", b"dXNlcjpzM2NyZXQ=", b"c00kie", b"eA==", b"uthorization", b"ookie"):
        assert secret not in data, secret
    assert b"http://example.org/x" in data and b"http://example.org/b" in data


def test_unwritable_root_is_an_infrastructure_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with Archive(ArchiveOptions(root=str(blocker / "archive"))) as archive, pytest.raises(ArchiveError):
        write(archive, 1, T0)


def test_metadata_utf8_cannot_encode_is_cleaned_not_an_archive_error(tmp_path: Path) -> None:
    """One entry's lone surrogate is that item's content: it must never fail the shared archive."""
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive:
        ref = archive.write(
            url="http://example.org/a",
            final_url="http://example.org/a",
            kind="page",
            request_headers={"user-agent": "test"},
            status=200,
            response_headers={"content-type": "text/html"},
            body=b"<html></html>",
            fetched_at=T0,
            metadata={"entry-title": "bad \ud800 title\x00", "feed": "f"},
        )
        ((_, meta),) = list(archive.replay(T0 - timedelta(minutes=1), T0 + timedelta(minutes=1)))
    assert ref.record_id
    assert meta["entry-title"] == "bad \ufffd title"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'<a href="http://user:pass@h.example/x">', b'<a href="http://h.example/x">'),
        (b'{"u": "HTTPS:\\/\\/bob:s3cret@h.example\\/feed"}', b'{"u": "HTTPS:\\/\\/h.example\\/feed"}'),
        (b"see https://a@x.example and http://b:c@y.example/", b"see https://x.example and http://y.example/"),
        # an "@" that ends no userinfo: addresses, handles, a path, a query
        (b"mailto:desk@news.example", b"mailto:desk@news.example"),
        (b"https://social.example/@reporter", b"https://social.example/@reporter"),
        (b"http://h.example/?to=a@b.example", b"http://h.example/?to=a@b.example"),
        (b"ftp://u:p@h.example/ and ://x@y", b"ftp://u:p@h.example/ and ://x@y"),
    ],
)
def test_userinfo_inside_a_body_is_removed_and_nothing_else(body: bytes, expected: bytes) -> None:
    assert redact_userinfo(body) == expected
