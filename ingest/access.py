"""Least privilege on a secured Elasticsearch (the compose stack): a writer role and user for the pipeline, a
read-only role and user for analysts, and the ``kibana_system`` password. Run once by the compose ``es-setup``
service as ``python -m ingest.access``; idempotent (roles and users are upserted).

* ``news_writer`` (user ``news_pipeline``): read and write documents, refresh, read index metadata and install
  the index templates. It cannot create or delete indices, change aliases or read anything else: the setup
  (as ``elastic``) creates the indices and aliases once (``news-ingest setup-index``).
* ``news_analyst`` (user ``analyst`` by default): read the news indices, and Kibana's read-only base privilege in
  every space (Discover, dashboards, visualisations; no saving, no management).

Passwords come from the environment (``ELASTIC_PASSWORD``, ``KIBANA_PASSWORD``, ``NEWS_PIPELINE_PASSWORD``,
``ANALYST_PASSWORD``; ``ANALYST_USERNAME`` defaults to ``analyst``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from ingest import indexing
from ingest.config import IndexOptions, PipelineOptions
from ingest.elastic import mapped
from ingest.errors import ConfigurationError, IngestError

logger = logging.getLogger(__name__)

WRITER_ROLE = "news_writer"
ANALYST_ROLE = "news_analyst"
PIPELINE_USER = "news_pipeline"
#: Kibana stores its privileges as an Elasticsearch application; ``read`` is its read-only base privilege.
KIBANA_APPLICATION = "kibana-.kibana"
WRITER_INDEX_PRIVILEGES = ("read", "write", "view_index_metadata", "maintenance")
WRITER_CLUSTER_PRIVILEGES = ("monitor", "manage_index_templates")
ANALYST_INDEX_PRIVILEGES = ("read", "view_index_metadata")


def index_patterns(index: IndexOptions) -> list[str]:
    """The aliases and their versioned indices (``news-articles``, ``news-articles-v*``, ...)."""
    return sorted(p for spec in indexing.specs(index) for p in (spec.alias, f"{spec.alias}-v*"))


def writer_role(index: IndexOptions) -> dict[str, Any]:
    return {
        "cluster": list(WRITER_CLUSTER_PRIVILEGES),
        "indices": [{"names": index_patterns(index), "privileges": list(WRITER_INDEX_PRIVILEGES)}],
        "metadata": {"managed_by": "news-ingest"},
    }


def analyst_role(index: IndexOptions) -> dict[str, Any]:
    return {
        "cluster": [],
        "indices": [{"names": index_patterns(index), "privileges": list(ANALYST_INDEX_PRIVILEGES)}],
        "applications": [{"application": KIBANA_APPLICATION, "privileges": ["read"], "resources": ["*"]}],
        "metadata": {"managed_by": "news-ingest"},
    }


@dataclass(frozen=True)
class Passwords:
    """What the setup sets; each at least 8 characters (Elasticsearch's minimum is 6)."""

    kibana_system: str
    pipeline: str
    analyst: str
    analyst_user: str = "analyst"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Passwords:
        env = os.environ if env is None else env
        names = {
            "kibana_system": "KIBANA_PASSWORD",
            "pipeline": "NEWS_PIPELINE_PASSWORD",
            "analyst": "ANALYST_PASSWORD",
        }
        missing = [var for var in names.values() if not env.get(var)]
        if missing:
            raise ConfigurationError(f"set {', '.join(missing)} (see .env.example)")
        short = [var for var in names.values() if len(env[var]) < 8]
        if short:
            raise ConfigurationError(f"{', '.join(short)}: at least 8 characters")
        return cls(
            kibana_system=env["KIBANA_PASSWORD"],
            pipeline=env["NEWS_PIPELINE_PASSWORD"],
            analyst=env["ANALYST_PASSWORD"],
            analyst_user=env.get("ANALYST_USERNAME") or "analyst",
        )


def apply(es: Elasticsearch, index: IndexOptions, passwords: Passwords) -> list[str]:
    """Create or update the roles and users and set the ``kibana_system`` password; returns what was done.

    ``es`` must authenticate as a user with ``manage_security`` (``elastic`` in the compose stack).
    """
    done = []
    with mapped("setting up Elasticsearch security"):
        es.security.change_password(username="kibana_system", password=passwords.kibana_system)
        done.append("kibana_system password set")
        es.security.put_role(name=WRITER_ROLE, **writer_role(index))
        es.security.put_role(name=ANALYST_ROLE, **analyst_role(index))
        done.append(f"roles {WRITER_ROLE}, {ANALYST_ROLE}")
        es.security.put_user(
            username=PIPELINE_USER,
            password=passwords.pipeline,
            roles=[WRITER_ROLE],
            full_name="news-ingest pipeline (Airflow)",
        )
        es.security.put_user(
            username=passwords.analyst_user,
            password=passwords.analyst,
            roles=[ANALYST_ROLE],
            full_name="news-ingest analyst (read-only)",
        )
        done.append(f"users {PIPELINE_USER}, {passwords.analyst_user}")
    for line in done:
        logger.info("%s", line)
    return done


def roles_document(index: IndexOptions) -> dict[str, dict[str, Any]]:
    """The roles as a file-realm ``roles.yml`` holds them (JSON is YAML): for nodes without a ``.security``
    index, such as the minimal test distribution (``make test-security``)."""
    return {WRITER_ROLE: writer_role(index), ANALYST_ROLE: analyst_role(index)}


def main(argv: Sequence[str] | None = None) -> int:
    """``apply`` (default): roles and users via the security API, as ``elastic`` (``ELASTIC_PASSWORD``) at
    ``ES_URL``. ``roles-file``: print the roles as ``roles.yml`` content."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["roles-file"]:
        # one role per line, as YAML flow mappings: the file realm reads a role per top-level line
        roles = roles_document(PipelineOptions.from_env().index)
        sys.stdout.write("".join(f"{name}: {json.dumps(body, sort_keys=True)}\n" for name, body in roles.items()))
        return 0
    if args not in ([], ["apply"]):
        sys.stderr.write("usage: python -m ingest.access [apply|roles-file]\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = os.environ.get("ES_URL", "http://elasticsearch:9200")
    try:
        password = os.environ.get("ELASTIC_PASSWORD") or ""
        if not password:
            raise ConfigurationError("set ELASTIC_PASSWORD")
        es = Elasticsearch(
            url, basic_auth=("elastic", password), request_timeout=30, max_retries=10, retry_on_timeout=True
        )
        apply(es, PipelineOptions.from_env().index, Passwords.from_env())
    except IngestError as exc:
        logger.error("security setup failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
