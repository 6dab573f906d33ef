"""Evaluation harnesses and benchmarks (``make eval-*``, ``make bench``).

They read the shared evaluation data in place (``../shared`` next to the checkout, or ``$NEWS_SHARED_DIR``)
and never copy it into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest.config import PROJECT_ROOT


def shared_dir() -> Path:
    """The read-only shared data folder; a clear error when it is missing."""
    path = Path(os.environ.get("NEWS_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
    if not path.is_dir():
        raise SystemExit(f"shared evaluation data not found at {path}: set NEWS_SHARED_DIR")
    return path
