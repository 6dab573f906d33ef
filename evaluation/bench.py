"""Benchmarks: ``python -m evaluation.bench`` (make bench; ES must run).

Story grouping lives in :mod:`evaluation.bench_grouping` (``measure()`` returns its figures); this entry point
runs it and ends with its ``key=value ...`` line.
"""

from __future__ import annotations

import sys

from evaluation.bench_grouping import main

if __name__ == "__main__":
    sys.exit(main())
