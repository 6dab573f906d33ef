"""A disk cache for grouping's fixed per-language tables (the idf priors built from wordfreq's lists).

Building the prior table of one language (decode wordfreq's packed list, stem ~100k words, one float per stem)
costs 0.1-0.3 s of CPU; a grouping run over articles in 26 languages paid 3-5 s for them, again in every fresh
process (each Airflow task is one). The tables never depend on what an index holds, only on wordfreq's data,
the stemmers and a few constants, so they are cached on disk, one file per table, named and checked by a key
that holds all of those (and the builder's source code, so that a changed formula is never read from a stale
file).

A cached table is not read back whole: loading millions of dict entries costs about as much as building them,
and a run looks up a few thousand terms per language. A :class:`PriorTable` holds the table as sorted 64-bit
hashes, the values, and the terms' UTF-8 bytes (each hit is compared to the term itself, so a lookup gives
exactly what the dict would, collisions included); each term is looked up once and remembered.

Where and how files are written, read and checked: :mod:`ingest.cache` (``$NEWS_CACHE_DIR``, ``off`` disables
it); a file that cannot be read, or whose key differs, is rebuilt and replaced; a directory that cannot be
written leaves the tables in memory (as without a cache).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest import cache
from ingest.cache import cache_dir

logger = logging.getLogger(__name__)

#: Bump when the file layout changes.
FORMAT = 2
#: Packages whose versions are part of every key (their data or their code shape the tables).
PACKAGES = ("wordfreq", "PyStemmer", "langcodes", "msgpack")
_ABSENT = -1.0  # the values are document frequencies, never negative


def _versions() -> dict[str, str]:
    return cache.versions(PACKAGES)


def term_hash(term: str) -> int:
    """A stable 64-bit hash of a term (Python's own ``hash`` changes from process to process): CRC-32 and
    Adler-32 side by side, cheap for the million terms of a miss; lookups compare the term itself anyway."""
    raw = term.encode("utf-8", "surrogatepass")
    return (zlib.crc32(raw) << 32) | zlib.adler32(raw)


def hash_all(encoded: Sequence[bytes]) -> npt.NDArray[np.uint64]:
    """:func:`term_hash` of every UTF-8 encoded term, in C loops (a miss hashes a million terms or more)."""
    crc = np.fromiter(map(zlib.crc32, encoded), dtype=np.uint64, count=len(encoded))
    adler = np.fromiter(map(zlib.adler32, encoded), dtype=np.uint64, count=len(encoded))
    hashes: npt.NDArray[np.uint64] = (crc << np.uint64(32)) | adler
    return hashes


class PriorTable(Mapping[str, float]):
    """A read-only ``term -> float`` table over sorted hashes (see the module docstring); looked-up terms are
    remembered, so a term costs one search however often it is asked for."""

    def __init__(
        self,
        hashes: npt.NDArray[np.uint64],
        values: npt.NDArray[np.float64],
        offsets: npt.NDArray[np.int64],
        blob: bytes,
    ) -> None:
        self._hashes = hashes
        self._values = values
        self._offsets = offsets
        self._blob = blob
        self._memo: dict[str, float] = {}

    @classmethod
    def build(cls, table: Mapping[str, float]) -> PriorTable:
        encoded = [t.encode("utf-8", "surrogatepass") for t in table]
        n = len(encoded)
        hashes = hash_all(encoded)
        order = np.argsort(hashes, kind="stable")
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)[order]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.fromiter(table.values(), dtype=np.float64, count=n)[order]
        return cls(hashes[order], values, offsets, b"".join([encoded[i] for i in order.tolist()]))

    def _find(self, term: str) -> float:
        h = np.uint64(term_hash(term))
        i = int(np.searchsorted(self._hashes, h))
        raw = term.encode("utf-8", "surrogatepass")
        n = len(self._hashes)
        while i < n and self._hashes[i] == h:
            if self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])] == raw:
                return float(self._values[i])
            i += 1
        return _ABSENT

    def get(self, term: str, default: Any = None) -> Any:
        value = self._memo.get(term)
        if value is None:
            value = self._memo[term] = self._find(term)
        return default if value == _ABSENT else value

    def __getitem__(self, term: str) -> float:
        value = self.get(term, None)
        if value is None:
            raise KeyError(term)
        return float(value)

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term, None) is not None

    def __len__(self) -> int:
        return len(self._hashes)

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self._hashes)):
            yield self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])].decode("utf-8", "surrogatepass")

    def save(self, path: Path, key: str) -> None:
        """Write atomically (see :func:`ingest.cache.save`)."""
        arrays = {"hashes": self._hashes, "values": self._values, "offsets": self._offsets}
        cache.save(path, key, {**arrays, "blob": np.frombuffer(self._blob, dtype=np.uint8)})

    @classmethod
    def load(cls, path: Path, key: str) -> PriorTable:
        """The table in ``path``; ``ValueError`` (or an ``OSError``) when it is not a complete table for ``key``."""
        data = cache.load(path, key)
        hashes, values, offsets = data["hashes"], data["values"], data["offsets"]
        blob = bytes(data["blob"].tobytes())
        n = len(hashes)
        if (
            hashes.dtype != np.uint64
            or values.dtype != np.float64
            or offsets.dtype != np.int64
            or len(values) != n
            or len(offsets) != n + 1
            or (n and (int(offsets[0]) != 0 or int(offsets[-1]) != len(blob)))
            or (n > 1 and bool(np.any(hashes[1:] < hashes[:-1])))
        ):
            raise ValueError("inconsistent arrays")
        return cls(hashes, values, offsets, blob)


def cached_table(
    name: str, key: Mapping[str, Any], build: Callable[[], Mapping[str, float]], *, directory: Path | None = None
) -> Mapping[str, float]:
    """The table ``build()`` returns, read from the disk cache when a file for the same key is there.

    ``key`` must hold everything the table depends on besides the packages in :data:`PACKAGES` (added here):
    options, constants, :func:`fingerprint` of the builder. On a miss (no file, an unreadable or foreign one) the
    table is built, written, and returned as built.
    """
    where = directory if directory is not None else cache_dir()
    if where is None:
        return build()
    path, full = cache.entry(name, {"format": FORMAT, **key, "packages": _versions()}, where)
    if path.exists():
        try:
            return PriorTable.load(path, full)
        except Exception as exc:  # any unreadable file is rebuilt, never trusted
            logger.warning("cache file %s unreadable (%s: %s): rebuilding it", path, type(exc).__name__, exc)
    table = build()
    cache.write(where, path, lambda: PriorTable.build(table).save(path, full))
    return table
