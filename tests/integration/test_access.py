"""Least privilege against a real *secured* Elasticsearch (``make test-security`` starts one on its own port):
the roles ``ingest.access`` defines let the pipeline do its work and nothing more, and analysts read only.

The minimal test distribution cannot create the native realm's ``.security`` index (its mapping needs
analysis-common), so ``scripts/secure-es.sh`` loads the same role descriptors into the file realm
(``roles.yml`` from ``python -m ingest.access roles-file``) with file-realm users; what is tested is the
privileges, not the security API calls of :func:`ingest.access.apply` (their bodies are unit-tested). The shared
test node runs without security, so this module needs the NEWS_SECURE_* variables (``scripts/secure-es.sh env``)
and is skipped, with that reason, without them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ingest import access, indexing, metrics, reporting
from ingest.config import IndexOptions
from ingest.elastic import call
from ingest.errors import RequestRejected
from ingest.search import ArticleQuery, search_articles

URL = os.environ.get("NEWS_SECURE_ES_URL", "")
ELASTIC_PASSWORD = os.environ.get("NEWS_SECURE_ES_PASSWORD", "")
PIPELINE_PASSWORD = os.environ.get("NEWS_SECURE_PIPELINE_PASSWORD", "")
ANALYST_PASSWORD = os.environ.get("NEWS_SECURE_ANALYST_PASSWORD", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.security,
    pytest.mark.skipif(not URL, reason="needs a secured Elasticsearch: `make test-security`"),
]


def _client(user: str, password: str) -> Elasticsearch:
    return Elasticsearch(URL, basic_auth=(user, password), request_timeout=30, max_retries=0)


@pytest.fixture(scope="module")
def index() -> Iterator[IndexOptions]:
    """The default aliases (the roles name them exactly), on the private secured node."""
    admin = _client("elastic", ELASTIC_PASSWORD)
    options = IndexOptions(es_url=URL, refresh=True)
    created = indexing.ensure_indices(admin, options)  # the setup creates indices and aliases, as elastic
    # documents for the analyst to read, whatever order the tests run in
    indexing.bulk_upsert(admin, options.articles_alias, [_doc(n) for n in range(100, 102)], options)
    yield options
    if created:
        admin.indices.delete(index=",".join(created))
    for spec in indexing.specs(options):
        admin.options(ignore_status=404).indices.delete_index_template(name=f"{spec.alias}-template")


def _doc(n: int) -> dict[str, object]:
    return {
        "doc_id": f"d{n}",
        "url": f"https://example.org/{n}",
        "title": f"Sony hack {n}",
        "body": "b",
        "language": "en",
    }


def _has(es: Elasticsearch, names: list[str], privileges: list[str], cluster: list[str]) -> dict[str, Any]:
    resp = es.security.has_privileges(cluster=cluster, index=[{"names": names, "privileges": privileges}])
    return {"cluster": resp["cluster"], "index": {n: resp["index"][n] for n in names}}


def test_the_roles_as_loaded_grant_what_they_say(index: IndexOptions) -> None:
    names = [index.articles_alias, f"{index.runs}-v1", "other-index"]
    every = ["read", "write", "view_index_metadata", "maintenance", "create_index", "delete_index", "manage"]
    writer = _has(
        _client(access.PIPELINE_USER, PIPELINE_PASSWORD),
        names,
        every,
        ["manage_index_templates", "manage_security", "manage"],
    )
    assert writer["cluster"] == {"manage_index_templates": True, "manage_security": False, "manage": False}
    for name in names[:2]:
        granted = {p for p, ok in writer["index"][name].items() if ok}
        assert granted == set(access.WRITER_INDEX_PRIVILEGES), (name, granted)
    assert not any(writer["index"]["other-index"].values())
    analyst = _has(_client("analyst", ANALYST_PASSWORD), names, every, ["manage_index_templates", "monitor"])
    assert analyst["cluster"] == {"manage_index_templates": False, "monitor": False}
    for name in names[:2]:
        assert {p for p, ok in analyst["index"][name].items() if ok} == set(access.ANALYST_INDEX_PRIVILEGES)
    assert not any(analyst["index"]["other-index"].values())


def test_the_pipeline_can_do_its_work(index: IndexOptions) -> None:
    es = _client(access.PIPELINE_USER, PIPELINE_PASSWORD)
    assert indexing.ensure_indices(es, index) == []  # templates re-installed, aliases exist: allowed
    report = indexing.bulk_upsert(es, index.articles_alias, [_doc(n) for n in range(3)], index)
    assert report.created == 3
    now = datetime.now(UTC)
    record = metrics.RunMetrics(
        dag_id="d", run_id="r", task_id="t", stage="process", started_at=now - timedelta(seconds=3), finished_at=now
    )
    assert metrics.write_run_metrics(es, index, record) == 1
    indexing.refresh(es, index.articles_alias)
    assert search_articles(es, index, ArticleQuery(text="sony")).total == 5  # 3 of its own + 2 of the setup


def test_the_pipeline_cannot_create_delete_or_read_elsewhere(index: IndexOptions) -> None:
    es = _client(access.PIPELINE_USER, PIPELINE_PASSWORD)
    with pytest.raises(RequestRejected, match="403"):
        call("creating an index", es.indices.create, index=f"{index.articles_alias}-v99")
    with pytest.raises(RequestRejected, match="403"):
        call("deleting an index", es.indices.delete, index=f"{index.articles_alias}-v1")
    with pytest.raises(RequestRejected, match="403"):
        call("reading security", es.search, index=".security")
    with pytest.raises(RequestRejected, match="403"):
        call("managing users", es.security.put_user, username="mallory", password="mallory0pw", roles=["superuser"])


def test_analysts_read_and_cannot_write(index: IndexOptions) -> None:
    es = _client("analyst", ANALYST_PASSWORD)
    assert search_articles(es, index, ArticleQuery()).total >= 1
    assert reporting.index_summary(es, index)["articles"] >= 1  # the CLI's summary works read-only
    with pytest.raises(RequestRejected, match="403"):
        indexing.bulk_upsert(es, index.articles_alias, [_doc(9)], index)
    with pytest.raises(RequestRejected, match="403"):
        call("installing a template", es.indices.put_index_template, name="x-template", index_patterns=["x-*"])
