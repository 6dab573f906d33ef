"""A disk cache for fixed tables that every fresh process would otherwise rebuild from package data.

Each Airflow task is a fresh process, and so is every derivation forkserver: the names' word-frequency tables,
the language-identification model and grouping's idf priors were decoded from their packages' compressed files
again in each of them. None of these depends on what an index holds, only on package data and code, so they are
kept on disk, one file per table, as NumPy ``.npz`` files (no pickle: a file is data, never code).

A file is named by a digest of its key and holds the key itself, checked on every read. The key holds everything
the table depends on: the packages' versions, the options and constants, and :func:`fingerprint` of the builder's
source code, so a changed formula is never read from a stale file. Files are written atomically (a temporary
file, then a rename); a file that cannot be read, or whose key differs, is rebuilt and replaced; a directory that
cannot be written leaves the tables in memory (as without a cache), said once per process and directory.

Where: ``$NEWS_CACHE_DIR`` (``off`` disables the cache), by default ``var/cache`` in the checkout.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import logging
import os
import tempfile
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.config import PROJECT_ROOT

logger = logging.getLogger(__name__)

#: Environment variable naming the cache directory (``off``: no cache).
ENV = "NEWS_CACHE_DIR"

Arrays = Mapping[str, npt.NDArray[Any]]


def cache_dir() -> Path | None:
    """The cache directory, or ``None`` when the cache is off."""
    value = os.environ.get(ENV)
    if value is None:
        return PROJECT_ROOT / "var" / "cache"
    if value.strip().lower() in ("", "off", "0", "no", "false"):
        return None
    return Path(value)


def fingerprint(*code: Callable[..., Any] | types.ModuleType) -> str:
    """A digest of the functions' (or whole modules') source code (for a key: a changed builder never reads an
    old table)."""
    digest = hashlib.sha256()
    for item in code:
        digest.update(inspect.getsource(item if isinstance(item, types.ModuleType) else inspect.unwrap(item)).encode())
    return digest.hexdigest()[:16]


def versions(packages: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``packages`` (``-`` for one that is missing)."""
    out: dict[str, str] = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def entry(name: str, key: Mapping[str, Any], directory: Path) -> tuple[Path, str]:
    """The file for ``name`` under ``key`` in ``directory``, and the full key string stored in it."""
    full = json.dumps({"name": name, **key}, sort_keys=True, default=str)
    return directory / f"{name}-{hashlib.sha256(full.encode('utf-8')).hexdigest()[:20]}.npz", full


def save(path: Path, full_key: str, arrays: Arrays) -> None:
    """Write ``arrays`` and the key atomically (a temporary file in the same directory, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would keep the cache from processes of other users
        with os.fdopen(fd, "wb") as out:
            named: dict[str, Any] = {"key": np.frombuffer(full_key.encode("utf-8"), dtype=np.uint8), **arrays}
            np.savez(out, **named)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path, full_key: str) -> dict[str, npt.NDArray[Any]]:
    """The arrays in ``path``; ``ValueError`` (or an ``OSError``) when it is not a file written for ``full_key``."""
    with path.open("rb") as raw:  # closed however np.load fails
        data = np.load(raw, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("not a cache file")
        with data:
            if "key" not in data.files or bytes(data["key"].tobytes()).decode("utf-8") != full_key:
                raise ValueError("written for another key")
            return {name: data[name] for name in data.files if name != "key"}


def pack_words(words: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Words as one array for a cache file (newline-joined UTF-8); ``ValueError`` for a word holding a newline."""
    if any("\n" in word for word in words):
        raise ValueError("a word with a newline cannot be packed")
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def unpack_words(packed: npt.NDArray[Any]) -> list[str]:
    """The words :func:`pack_words` packed, in their order."""
    return bytes(packed.tobytes()).decode("utf-8").split("\n") if packed.size else []


def packed_word_count(packed: npt.NDArray[Any]) -> int:
    """How many words ``packed`` holds (for a ``check``: without decoding them)."""
    return bytes(packed.tobytes()).count(b"\n") + 1 if packed.size else 0


def cached_arrays(
    name: str,
    key: Mapping[str, Any],
    build: Callable[[], Arrays],
    *,
    check: Callable[[Arrays], None] | None = None,
    directory: Path | None = None,
) -> Arrays:
    """The arrays ``build()`` returns, read from the disk cache when a file for the same key is there.

    ``key`` must hold everything the arrays depend on (see the module docstring). ``check`` may raise
    ``ValueError`` on arrays read back that are not consistent: the file is then rebuilt, never trusted. On a
    miss the arrays are built, written and returned as built.
    """
    where = directory if directory is not None else cache_dir()
    if where is None:
        return build()
    path, full = entry(name, key, where)
    if path.exists():
        try:
            found: Arrays = load(path, full)
            if check is not None:
                check(found)
            return found
        except Exception as exc:  # any unreadable file is rebuilt, never trusted
            logger.warning("cache file %s unreadable (%s: %s): rebuilding it", path, type(exc).__name__, exc)
    arrays = build()
    write(where, path, lambda: save(path, full, arrays))
    return arrays


def write(where: Path, path: Path, writer: Callable[[], None]) -> None:
    """Run ``writer`` (which writes ``path`` in ``where``) unless ``where`` could not be written before in this
    process; a failure is warned once per process and directory, not once per table, and tables stay in memory."""
    if where in _unwritable:
        return
    try:
        writer()
    except OSError as exc:
        _unwritable.add(where)
        logger.warning("could not write the cache file %s (%s): tables stay in memory only (%s)", path, exc, ENV)


_unwritable: set[Path] = set()
