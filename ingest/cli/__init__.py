"""news-ingest: the pipeline without Airflow, and the analyst's and operator's read side.

Settings come from the environment (``NEWS_<STAGE>_<FIELD>``, see :mod:`ingest.config`); Elasticsearch from
``NEWS_INDEX_ES_URL`` (default ``http://127.0.0.1:9200``). Read commands print aligned tables, or JSON with
``--json``. Errors are one line on stderr; the exit code says what went wrong (:class:`ExitCode`), mapped from
the :mod:`ingest.errors` tree in one place, :func:`main`.

* :mod:`ingest.cli.app`: the commands and :func:`main`;
* :mod:`ingest.cli.output`: tables, JSON, progress bars;
* :mod:`ingest.cli.exits`: exit codes and the exception -> exit code mapping.
"""

from __future__ import annotations

from ingest.cli.app import app, main
from ingest.cli.exits import ExitCode

__all__ = ["ExitCode", "app", "main"]
