"""The disk cache of grouping's per-language prior tables: hit, miss, corrupt or foreign files, no cache; and the
tables it gives are the built ones, bit for bit (every idf depends on them)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ingest import cache
from ingest.stories import evidence, priors
from ingest.stories.priors import PriorTable, cached_table

pytestmark = pytest.mark.unit

TABLE = {"hack": 0.25, "sony": 1.5e-7, "straße": 3.0, "ü": 0.0, "": 2.0, "x" * 90: 1e300}
KEY = {"language": "xx", "prior_docs": 200.0}


class Builder:
    def __init__(self, table: dict[str, float] = TABLE) -> None:
        self.table = table
        self.calls = 0

    def __call__(self) -> dict[str, float]:
        self.calls += 1
        return dict(self.table)


def _same(table: object, reference: dict[str, float]) -> None:
    assert isinstance(table, PriorTable | dict)
    assert len(table) == len(reference) and set(table) == set(reference)
    for term, value in reference.items():
        assert table[term].hex() == value.hex() and table.get(term, 0.0) == value and term in table
    for absent in ("hacks", "Sony", "strasse", "u", " "):
        assert table.get(absent, 0.0) == 0.0 and table.get(absent) is None and absent not in table
        with pytest.raises(KeyError):
            table[absent]


def test_a_miss_builds_and_writes_then_a_hit_reads_without_building(tmp_path: Path) -> None:
    build = Builder()
    first = cached_table("t", KEY, build, directory=tmp_path)
    assert build.calls == 1 and first == TABLE  # a miss returns the table as built
    assert len(list(tmp_path.glob("t-*.npz"))) == 1 and not list(tmp_path.glob(".*tmp"))
    second = cached_table("t", KEY, build, directory=tmp_path)
    assert build.calls == 1 and isinstance(second, PriorTable)
    _same(second, TABLE)


def test_another_key_or_package_version_is_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = Builder()
    cached_table("t", KEY, build, directory=tmp_path)
    cached_table("t", {**KEY, "prior_docs": 100.0}, build, directory=tmp_path)
    assert build.calls == 2
    monkeypatch.setattr(priors, "_versions", lambda: {"wordfreq": "99"})
    cached_table("t", KEY, build, directory=tmp_path)
    assert build.calls == 3 and len(list(tmp_path.glob("t-*.npz"))) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "foreign"])
def test_a_corrupt_or_foreign_file_is_rebuilt_and_replaced(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    build = Builder()
    cached_table("t", KEY, build, directory=tmp_path)
    (path,) = tmp_path.glob("t-*.npz")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a table" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a complete table written for another key under this name
        PriorTable.build({"other": 1.0}).save(path, "another key")
    with caplog.at_level(logging.WARNING, logger="ingest.stories.priors"):
        again = cached_table("t", KEY, build, directory=tmp_path)
    assert build.calls == 2 and again == TABLE and "rebuilding" in caplog.text
    _same(cached_table("t", KEY, build, directory=tmp_path), TABLE)  # the rebuilt file is good
    assert build.calls == 2


def test_cache_off_or_unwritable_keeps_the_table_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    assert cache.cache_dir() is None
    build = Builder()
    assert cached_table("t", KEY, build) == TABLE and cached_table("t", KEY, build) == TABLE
    assert build.calls == 2
    monkeypatch.setenv(cache.ENV, str(tmp_path / "here"))
    assert cache.cache_dir() == tmp_path / "here"
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    monkeypatch.setattr(cache, "_unwritable", set())
    with caplog.at_level(logging.WARNING, logger="ingest.stories.priors"):
        for name in ("t", "u", "v"):  # cannot be written: still the tables, and one warning
            assert cached_table(name, KEY, build, directory=blocker / "sub") == TABLE
    assert caplog.text.count("could not write") == 1 and build.calls == 5


def test_lookups_are_exact_when_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    def few(term: str) -> int:  # almost everything collides
        return len(term) % 3

    monkeypatch.setattr(priors, "term_hash", few)
    monkeypatch.setattr(
        priors, "hash_all", lambda encoded: np.array([few(e.decode()) for e in encoded], dtype=np.uint64)
    )
    _same(PriorTable.build(TABLE), TABLE)


def test_the_bulk_hashes_are_the_lookup_hashes() -> None:
    terms = [*TABLE, "\ud800", "日本語"]
    encoded = [t.encode("utf-8", "surrogatepass") for t in terms]
    assert [int(h) for h in priors.hash_all(encoded)] == [priors.term_hash(t) for t in terms]


def test_the_idf_priors_read_back_are_the_built_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    evidence._prior_df.cache_clear()
    try:
        built = evidence._build_prior_df("de", 200.0)
        assert evidence._prior_df("de", 200.0) == built  # miss: written
        evidence._prior_df.cache_clear()
        cached = evidence._prior_df("de", 200.0)
        assert isinstance(cached, PriorTable) and len(cached) == len(built)
        for term in [*list(built)[::97], "keinwortdiesersprache", "regierung", "hacker"]:
            assert cached.get(term, 0.0) == built.get(term, 0.0)
        assert evidence._prior_df("", 200.0) == {}
    finally:
        evidence._prior_df.cache_clear()
