"""Run metrics: what each Airflow task run did, in the ``news-runs`` index, for the "Pipeline health" dashboard.

The DAG tasks fill one :class:`RunMetrics` per task try from the pipeline's reports and call
:func:`write_run_metrics`. One record becomes several documents, told apart by ``kind``, so that Kibana charts
them with plain ``terms`` aggregations (no nested fields, no dynamic keys):

* ``kind=task``: the run itself: ids, window, timings, counters, status (one per task try);
* ``kind=skip``: one per skip reason of that try (``skip_stage``, ``reason``, ``count``);
* ``kind=feed_failure``: one per failing feed (``feed``, ``feed_url``, ``error``, ``count=1``);
* ``kind=tag``: one per tag (``tag``, ``count`` articles tagged with it).

The per-reason, per-feed and per-tag documents repeat the task's context (dag/run/task ids, stage, status and
times), so they can be filtered and put on a time axis on their own. Ids are deterministic: writing the same try
again overwrites its documents (and deletes those the new record no longer has); it never adds copies.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, get_args

from elasticsearch import Elasticsearch, helpers

from ingest.config import VERSION, IndexOptions
from ingest.elastic import mapped
from ingest.errors import ConfigurationError, IndexMissing, RequestRejected

logger = logging.getLogger(__name__)

Stage = Literal["poll", "capture", "process", "stories"]
Status = Literal["ok", "degraded", "failed"]
Kind = Literal["task", "skip", "feed_failure", "tag"]
STAGES: tuple[str, ...] = get_args(Stage)
STATUSES: tuple[str, ...] = get_args(Status)

#: A document of the ``news-runs`` index (JSON values only).
RunDocument = dict[str, str | int | float | None]


@dataclass(frozen=True)
class FeedFailure:
    """A feed whose poll failed in this run."""

    feed: str
    url: str = ""
    error: str = ""


@dataclass(frozen=True)
class RunMetrics:
    """One Airflow task try: identity, window, timings and what it did (see the module docstring)."""

    dag_id: str
    run_id: str
    task_id: str
    stage: Stage
    started_at: datetime
    finished_at: datetime
    #: -1 for unmapped tasks, as Airflow numbers them.
    map_index: int = -1
    try_number: int = 1
    #: Airflow's run type: scheduled, manual, backfill, asset_triggered.
    run_type: str = "manual"
    #: The data interval (live) or replay window the task covered, when it has one.
    window_start: datetime | None = None
    window_end: datetime | None = None
    feeds_polled: int = 0
    #: 304 Not Modified, or a 200 whose body hashed the same as last time.
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    #: Responses written to the archive (feeds and pages).
    captures: int = 0
    articles_new: int = 0
    articles_updated: int = 0
    #: Skip counts by reason, keyed ``"<stage>:<reason>"`` (as the pipeline's reports count them) or ``"<reason>"``.
    skipped: Mapping[str, int] = field(default_factory=dict)
    extraction_failures: int = 0
    #: Articles per tag (``{"cyberattack": 3, "geopolitics": 5}``).
    tag_counts: Mapping[str, int] = field(default_factory=dict)
    stories_created: int = 0
    stories_updated: int = 0
    stories_merged: int = 0
    failing_feeds: tuple[FeedFailure, ...] = ()
    status: Status = "ok"

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigurationError(f"stage must be one of {STAGES}, not {self.stage!r}")
        if self.status not in STATUSES:
            raise ConfigurationError(f"status must be one of {STATUSES}, not {self.status!r}")
        for name in ("started_at", "finished_at", "window_start", "window_end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ConfigurationError(f"{name} must be timezone-aware, got {value!r}")
        if self.finished_at < self.started_at:
            raise ConfigurationError(f"finished_at {self.finished_at} is before started_at {self.started_at}")
        counts = {k: v for k, v in vars(self).items() if isinstance(v, int) and k not in ("map_index", "try_number")}
        counts |= {f"skipped[{k}]": v for k, v in self.skipped.items()}
        counts |= {f"tag_counts[{k}]": v for k, v in self.tag_counts.items()}
        negative = sorted(k for k, v in counts.items() if v < 0)
        if negative:
            raise ConfigurationError(f"counts cannot be negative: {', '.join(negative)}")
        # frozen means frozen: callers' dicts are copied and wrapped read-only
        object.__setattr__(self, "skipped", MappingProxyType(dict(self.skipped)))
        object.__setattr__(self, "tag_counts", MappingProxyType(dict(self.tag_counts)))

    @property
    def record_id(self) -> str:
        """The task document's ``_id``: a hash of dag, run, task, map index and try number."""
        key = "\x1f".join((self.dag_id, self.run_id, self.task_id, str(self.map_index), str(self.try_number)))
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def articles_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def feeds_changed(self) -> int:
        """Polled feeds that answered with new content (neither unchanged nor failed)."""
        return max(0, self.feeds_polled - self.feeds_not_modified - self.feeds_failed)

    def _context(self) -> RunDocument:
        return {
            "record_id": self.record_id,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "map_index": self.map_index,
            "try_number": self.try_number,
            "run_type": self.run_type,
            "stage": self.stage,
            "status": self.status,
            "pipeline_version": VERSION,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }

    def documents(self) -> list[tuple[str, RunDocument]]:
        """``(_id, document)`` pairs: the task document first, then one per skip reason, failing feed and tag."""
        context = self._context()
        task: RunDocument = {
            **context,
            "kind": "task",
            "duration_s": round(self.duration_s, 3),
            "feeds_polled": self.feeds_polled,
            "feeds_not_modified": self.feeds_not_modified,
            "feeds_changed": self.feeds_changed,
            "feeds_failed": self.feeds_failed,
            "captures": self.captures,
            "articles_new": self.articles_new,
            "articles_updated": self.articles_updated,
            "articles_skipped": self.articles_skipped,
            "extraction_failures": self.extraction_failures,
            "stories_created": self.stories_created,
            "stories_updated": self.stories_updated,
            "stories_merged": self.stories_merged,
        }
        docs: list[tuple[str, RunDocument]] = [(self.record_id, task)]
        for key, n in sorted(self.skipped.items()):
            stage, _, reason = key.rpartition(":")
            doc: RunDocument = {**context, "kind": "skip", "skip_stage": stage, "reason": reason, "count": n}
            docs.append((self._child_id("skip", key), doc))
        by_feed: dict[str, FeedFailure] = {}
        for failure in self.failing_feeds:
            by_feed.setdefault(failure.feed or failure.url, failure)
        for key, failure in sorted(by_feed.items()):
            doc = {
                **context,
                "kind": "feed_failure",
                "feed": failure.feed,
                "feed_url": failure.url,
                "error": failure.error[:1000],
                "count": 1,
            }
            docs.append((self._child_id("feed_failure", key), doc))
        for tag, n in sorted(self.tag_counts.items()):
            docs.append((self._child_id("tag", tag), {**context, "kind": "tag", "tag": tag, "count": n}))
        return docs

    def _child_id(self, kind: Kind, key: str) -> str:
        return f"{self.record_id}-{kind}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]}"

    def summary(self) -> str:
        """One line for the task log."""
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())) or "none"
        tags = ", ".join(f"{k}={v}" for k, v in sorted(self.tag_counts.items())) or "none"
        return (
            f"{self.stage} {self.status}: {self.duration_s:.1f}s; feeds polled={self.feeds_polled} "
            f"not_modified={self.feeds_not_modified} failed={self.feeds_failed}; captures={self.captures}; "
            f"articles new={self.articles_new} updated={self.articles_updated} skipped={self.articles_skipped} "
            f"({skipped}); extraction failures={self.extraction_failures}; tags: {tags}; stories "
            f"created={self.stories_created} updated={self.stories_updated} merged={self.stories_merged}"
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def write_run_metrics(es: Elasticsearch, index_options: IndexOptions, record: RunMetrics) -> int:
    """Write ``record``'s documents to the runs alias (``index_options.runs``); returns how many were written.

    Idempotent: the same task try always maps to the same ids, so a rewrite overwrites; documents of an earlier
    write of this try that the new record no longer has (a skip reason that disappeared) are deleted, found
    through the ``child_ids`` the task document kept (a realtime get: no refresh needed). Needs the alias to
    exist (``news-ingest setup-index`` / :func:`ingest.indexing.ensure_indices`); errors leave as the
    :mod:`ingest.errors` tree (:class:`~ingest.errors.IndexMissing`, ...), so the caller decides whether a failed
    metrics write fails the task.
    """
    alias = index_options.runs
    docs = record.documents()
    ids = [doc_id for doc_id, _ in docs]
    with mapped(f"writing run metrics to {alias}"):
        previous = es.options(ignore_status=404).get(index=alias, id=record.record_id, source_includes=["child_ids"])
        if previous.meta.status == 404 and "error" in previous.body:
            # the alias itself is missing (a missing document answers found=false, without an error)
            raise IndexMissing(f"writing run metrics: no index behind {alias} (run `news-ingest setup-index`)")
        stale = set(previous.get("_source", {}).get("child_ids") or []) - set(ids)
        actions: list[dict[str, Any]] = [
            {"_op_type": "index", "_index": alias, "_id": doc_id, "_source": doc} for doc_id, doc in docs
        ]
        actions[0]["_source"] = {**docs[0][1], "child_ids": ids[1:]}
        actions += [{"_op_type": "delete", "_index": alias, "_id": doc_id} for doc_id in sorted(stale)]
        _ok, errors = helpers.bulk(  # raise_on_error=False: a list of failed items, not a count
            es,
            actions,
            raise_on_error=False,
            refresh="wait_for" if index_options.refresh else False,
            require_alias=True,
        )
    assert isinstance(errors, list)
    failed = [e for e in errors if not (isinstance(e, dict) and e.get("delete", {}).get("status") == 404)]
    if failed:
        raise RequestRejected(f"{len(failed)} run-metrics documents were rejected by {alias}", errors=list(failed))
    logger.info("run metrics %s written to %s (%d documents): %s", record.record_id, alias, len(docs), record.summary())
    return len(docs)


__all__ = ["STAGES", "STATUSES", "FeedFailure", "RunDocument", "RunMetrics", "Stage", "Status", "write_run_metrics"]
