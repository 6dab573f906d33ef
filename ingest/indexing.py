"""Elasticsearch: versioned index templates, aliases, and bulk upserts that never drop a document silently.

Articles are written with ``update`` + ``doc_as_upsert``: the ingest stage owns its fields, story grouping and
dedup own theirs, and re-ingesting an article (a retry, a backfill) updates it in place under the same ``_id``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from ingest.config import DATA_DIR, IndexOptions
from ingest.elastic import call, item_error, mapped
from ingest.errors import DocumentRejected, RequestRejected

logger = logging.getLogger(__name__)

#: Fields whose values accumulate across ingests (one article reached through several feeds or URLs).
MERGED_LIST_FIELDS = ("feeds", "source_urls")


@dataclass(frozen=True)
class IndexSpec:
    """One index family: template name, the alias users query, and the concrete versioned index."""

    template: str
    alias: str
    version: int

    @property
    def index(self) -> str:
        return f"{self.alias}-v{self.version}"


@dataclass
class BulkReport:
    created: int = 0
    updated: int = 0
    noop: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Documents refused for their own content (``skip_rejected=True``): skips for the caller to count.
    rejected: list[DocumentRejected] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.noop


def client(options: IndexOptions, **kwargs: Any) -> Elasticsearch:
    """An Elasticsearch client for the CLI and tests (Airflow builds its own from a Connection)."""
    return Elasticsearch(options.es_url, request_timeout=options.request_timeout, **kwargs)


def load_template(name: str) -> dict[str, Any]:
    text = (DATA_DIR / "templates" / f"{name}.json").read_text("utf-8")
    body: dict[str, Any] = json.loads(text)
    return body


def specs(options: IndexOptions) -> list[IndexSpec]:
    return [
        IndexSpec("news-articles", options.articles_alias, int(load_template("news-articles")["version"])),
        IndexSpec("news-stories", options.stories_alias, int(load_template("news-stories")["version"])),
        IndexSpec("news-runs", options.runs, int(load_template("news-runs")["version"])),
    ]


def ensure_indices(es: Elasticsearch, options: IndexOptions) -> list[str]:
    """Install the templates and make sure each alias points at a concrete index. Idempotent.

    Templates are matched by ``<alias>-v*`` so that custom aliases (tests, staging) get the same mapping.
    Returns the concrete index names.
    """
    created = []
    with mapped("setting up indices"):
        for spec in specs(options):
            body = load_template(spec.template)
            body["index_patterns"] = [f"{spec.alias}-v*"]
            name = f"{spec.alias}-template"
            upgraded = _installed_version(es, name) != body.get("version")
            if upgraded:  # written once per template version
                es.indices.put_index_template(name=name, **body)
                logger.info("installed index template %s version %s", name, body.get("version"))
            if es.indices.exists_alias(name=spec.alias):
                if upgraded:
                    # an index made from an older template version gets the fields added since (additive
                    # changes only: a changed field type is refused by Elasticsearch and raised). Only on an
                    # upgrade: the pipeline's role may write documents, not change mappings.
                    es.indices.put_mapping(index=spec.alias, **body["template"]["mappings"])
                continue
            if not es.indices.exists(index=spec.index):
                es.indices.create(index=spec.index, aliases={spec.alias: {"is_write_index": True}})
            else:
                es.indices.put_alias(index=spec.index, name=spec.alias, is_write_index=True)
            created.append(spec.index)
            logger.info("created index %s behind alias %s", spec.index, spec.alias)
    return created


def _installed_version(es: Elasticsearch, name: str) -> object:
    found = es.options(ignore_status=404).indices.get_index_template(name=name)
    templates = found.get("index_templates") or []
    return templates[0]["index_template"].get("version") if templates else None


def create_indices(es: Elasticsearch, options: IndexOptions) -> None:
    """Concrete indices with the template mappings behind ``options``' aliases, installing no index template:
    throwaway indices of tests and evaluations, which :func:`drop_indices` removes."""
    for spec in specs(options):
        body = load_template(spec.template)["template"]
        es.indices.create(
            index=spec.index, settings=body["settings"], mappings=body["mappings"], aliases={spec.alias: {}}
        )


def drop_indices(es: Elasticsearch, options: IndexOptions) -> None:
    """Delete the concrete indices, the index templates behind ``options``' aliases and the story writer clock
    (missing ones are fine): benchmarks and evaluations leave nothing behind."""
    for spec in specs(options):
        es.options(ignore_status=404).indices.delete(index=spec.index)
        es.options(ignore_status=404).indices.delete_index_template(name=f"{spec.alias}-template")
    es.options(ignore_status=404).indices.delete(index=options.stories_clock)


def existing_sources(
    es: Elasticsearch, alias: str, ids: Sequence[str], fields: Sequence[str] | None
) -> dict[str, dict[str, Any]]:
    """Fetch selected fields (``None``: all) of documents that already exist (for merging list fields)."""
    if not ids:
        return {}
    if fields is None:
        resp = call(f"reading stored documents from {alias}", es.mget, index=alias, ids=list(ids))
        return {d["_id"]: d.get("_source", {}) for d in resp["docs"] if d.get("found")}
    resp = call(
        f"reading stored documents from {alias}", es.mget, index=alias, ids=list(ids), source_includes=list(fields)
    )
    return {d["_id"]: d.get("_source", {}) for d in resp["docs"] if d.get("found")}


def merge_list_fields(
    docs: Iterable[dict[str, Any]], existing: Mapping[str, Mapping[str, Any]], fields: Sequence[str]
) -> None:
    """Union list fields with what the stored copy already has, so nothing accumulated is lost."""
    for doc in docs:
        stored = existing.get(doc["doc_id"], {})
        for name in fields:
            values = set(doc.get(name) or []) | set(stored.get(name) or [])
            if values:
                doc[name] = sorted(values)


def bulk_upsert(
    es: Elasticsearch,
    alias: str,
    docs: Sequence[Mapping[str, Any]],
    options: IndexOptions,
    *,
    id_field: str = "doc_id",
    skip_rejected: bool = False,
) -> BulkReport:
    """Upsert ``docs`` in chunks; raise :class:`IndexingError` if any item fails after retries.

    429s are retried with exponential backoff by the helper; every other per-item error is collected, logged
    with its reason and raised, so the Airflow task fails and its retry (or a replay) indexes what was missed.
    With ``skip_rejected``, a document refused for its own content (:func:`ingest.elastic.item_error`) is not
    a failure of the batch: it lands in ``report.rejected`` for the caller to count as a skip, and the rest of
    the batch is indexed and committed (retrying the task would only be refused again, for ever).
    """
    report = BulkReport()
    if not docs:
        return report
    now = datetime.now(UTC).isoformat()
    # ``indexed_at`` (first indexed) only goes into the upsert body: re-deriving an unchanged article is then a
    # no-op for Elasticsearch (nothing is rewritten), and the result counts tell what a backfill changed.
    stamped = alias == options.articles_alias
    actions = (
        {
            "_op_type": "update",
            "_index": alias,
            "_id": doc[id_field],
            "doc": dict(doc),
            "upsert": {**doc, "indexed_at": now} if stamped else dict(doc),
            "retry_on_conflict": 3,
        }
        for doc in docs
    )
    results: Counter[str] = Counter()
    urls = {str(doc[id_field]): str(doc["url"]) for doc in docs if isinstance(doc.get("url"), str)}
    with mapped(f"bulk request to {alias}"):
        for ok, item in helpers.streaming_bulk(
            es,
            actions,
            chunk_size=options.chunk_size,
            max_chunk_bytes=options.max_chunk_bytes,
            max_retries=options.max_retries,
            initial_backoff=1,
            raise_on_error=False,
            raise_on_exception=True,
            refresh="wait_for" if options.refresh else False,
            # Never let a missing alias auto-create an index with a guessed (dynamic) mapping.
            require_alias=True,
        ):
            info = item.get("update", {})
            rejected = None if ok or not skip_rejected else item_error(info, url=urls.get(str(info.get("_id"))))
            if ok:
                results[str(info.get("result", "updated"))] += 1
            elif rejected is not None:
                report.rejected.append(rejected)
                logger.error("document rejected: %s", rejected)
            else:
                report.failed += 1
                if len(report.errors) < 50:
                    report.errors.append(
                        {"id": info.get("_id"), "status": info.get("status"), "error": info.get("error")}
                    )
    report.created, report.updated, report.noop = results["created"], results["updated"], results["noop"]
    if report.failed:
        for err in report.errors[:5]:
            logger.error("bulk item rejected: %.500s", err)
        raise RequestRejected(
            f"{report.failed} of {len(docs)} documents were rejected by {alias}",
            failed=report.failed,
            errors=report.errors,
        )
    logger.info(
        "indexed into %s: created=%d updated=%d noop=%d rejected=%d",
        alias,
        report.created,
        report.updated,
        report.noop,
        len(report.rejected),
    )
    return report


def refresh(es: Elasticsearch, alias: str) -> None:
    call(f"refreshing {alias}", es.indices.refresh, index=alias)
