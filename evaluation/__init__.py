"""Evaluation harnesses and benchmarks (``make eval-*``, ``make bench``).

They read the shared evaluation data in place (``../shared`` next to the checkout, or ``$NEWS_SHARED_DIR``)
and never copy it into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest.config import PROJECT_ROOT


def shared_dir() -> Path:
    """The read-only shared data folder (it may be missing: callers say what they need from it)."""
    return Path(os.environ.get("NEWS_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
