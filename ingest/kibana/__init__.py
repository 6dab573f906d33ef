"""Kibana saved objects as the analyst's product: generated from :mod:`ingest.kibana.content`, validated offline
against Kibana 9.2.8 (:mod:`ingest.kibana.validate`), imported by the compose ``kibana-setup`` service.

``python -m ingest.kibana write`` regenerates ``ingest/data/kibana/saved_objects.ndjson``; ``check`` fails when the
committed file differs from the generator's output or does not validate; ``import`` sends the generated objects to
a Kibana (``POST /api/saved_objects/_import?overwrite=true``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ingest.config import DATA_DIR, IndexOptions
from ingest.kibana.content import saved_objects
from ingest.kibana.objects import SavedObject, dumps
from ingest.kibana.validate import problems

NDJSON_PATH = DATA_DIR / "kibana" / "saved_objects.ndjson"


def render_ndjson(objects: Iterable[SavedObject]) -> str:
    """One compact JSON object per line, keys sorted, newline-terminated: reproducible byte for byte."""
    return "".join(dumps(obj.to_json()) + "\n" for obj in objects)


def generate(index: IndexOptions | None = None) -> str:
    """The NDJSON for ``index``'s aliases (the committed file uses the defaults)."""
    return render_ndjson(saved_objects(index))


def load_ndjson(path: Path = NDJSON_PATH) -> list[SavedObject]:
    """Read an NDJSON export (ours or Kibana's) back into :class:`SavedObject` values."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [SavedObject.from_json(json.loads(line)) for line in lines if line.strip()]


__all__ = ["NDJSON_PATH", "generate", "load_ndjson", "problems", "render_ndjson", "saved_objects"]
