"""``python -m ingest`` is the command line."""

from ingest.cli import main

raise SystemExit(main())
