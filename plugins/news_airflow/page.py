"""The "News ingest" page in the Airflow UI: the latest stories and the health of every feed.

Served by a FastAPI app that the plugin mounts on the API server under :data:`URL_PREFIX`; the UI shows it in
an iframe (an external view), so the request carries the UI's session cookie and the page requires an
authenticated user like every other UI page. Stories come from Elasticsearch (the ``elasticsearch_default``
Connection, the pipeline's aliases), feed health from the pipeline's state store (``NEWS_STATE_PATH``). Each
source fails on its own: with Elasticsearch down the page still lists the feeds and says, in a red box, what is
unreachable.

Nothing heavy is imported with the plugin (every Airflow component loads it): FastAPI, Elasticsearch, Jinja and
the pipeline are imported when the first request arrives (:class:`LazyApp`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from news_airflow import kibana

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from ingest.config import PipelineOptions

logger = logging.getLogger(__name__)

URL_PREFIX = "/news-ingest"
STORY_LIMIT = 25
#: Elasticsearch must answer a page request quickly or not at all: no retries, a short timeout.
ES_TIMEOUT_SECONDS = 5.0

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LazyApp:
    """An ASGI app that builds the real one (FastAPI) on its first request."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = self._factory()
        await self._app(scope, receive, send)


# --- what the page shows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryRow:
    story_id: str
    headline: str
    article_count: int
    languages: list[str]
    outlets: list[str]
    tags: list[str]
    first_seen: str
    last_seen: str
    kibana_url: str


@dataclass(frozen=True)
class FeedRow:
    name: str
    url: str
    publisher: str
    status: str  # ok | failing | backing off | not polled yet | unknown to the feed file
    consecutive_failures: int
    last_polled_at: str
    last_success_at: str
    last_status: int | None
    last_error: str
    next_poll_after: str


@dataclass
class Overview:
    generated_at: str
    articles_alias: str
    stories_alias: str
    state_path: str
    stories: list[StoryRow] = field(default_factory=list)
    stories_error: str = ""
    feeds: list[FeedRow] = field(default_factory=list)
    feeds_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _when(value: Any) -> str:
    """An instant as ``2014-12-19 14:03 UTC`` (empty for none)."""
    if not value:
        return ""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _client(options: PipelineOptions) -> Elasticsearch:
    """The Airflow Connection's client (as the tasks use), else the pipeline's ``NEWS_INDEX_ES_URL``."""
    from elasticsearch import Elasticsearch

    try:
        from news_airflow.hooks import NewsElasticsearchHook

        kwargs = NewsElasticsearchHook().client_kwargs()
    except Exception as exc:  # no such Connection here: the pipeline's own setting
        logger.info("no elasticsearch_default connection (%s): using %s", exc, options.index.es_url)
        kwargs = {"hosts": [options.index.es_url]}
    kwargs.update(request_timeout=ES_TIMEOUT_SECONDS, max_retries=0, retry_on_timeout=False)
    return Elasticsearch(**kwargs)


def latest_stories(es: Elasticsearch, alias: str, limit: int = STORY_LIMIT) -> list[StoryRow]:
    """The most recently active stories (merged ones left out), newest coverage first."""
    from ingest.elastic import call
    from ingest.reporting import STORY_LISTING_FIELDS

    response = call(
        f"reading the latest stories from {alias}",
        es.search,
        index=alias,
        query={"bool": {"must_not": [{"term": {"status": "merged"}}]}},
        sort=[{"last_seen": {"order": "desc", "unmapped_type": "date"}}, {"story_id": "asc"}],
        size=limit,
        source_includes=STORY_LISTING_FIELDS,
    )
    rows = []
    for hit in response["hits"]["hits"]:
        src = hit.get("_source") or {}
        story_id = str(src.get("story_id") or hit["_id"])
        articles = kibana.Discover(
            kibana.ARTICLES_DATA_VIEW,
            kibana.lucene_terms("story_id", [story_id]),
            kibana.WIDE_FROM,
            kibana.WIDE_TO,
            kibana.ARTICLE_COLUMNS,
            (("published_at", "asc"),),
        )
        rows.append(
            StoryRow(
                story_id=story_id,
                headline=str(src.get("headline") or "(no headline)"),
                article_count=int(src.get("article_count") or 0),
                languages=sorted(str(x) for x in src.get("languages") or []),
                outlets=sorted(str(x) for x in src.get("outlets") or []),
                tags=sorted(str(x) for x in src.get("tags") or []),
                first_seen=_when(src.get("first_seen")),
                last_seen=_when(src.get("last_seen")),
                kibana_url=articles.url(),
            )
        )
    return rows


def feed_rows(options: PipelineOptions) -> list[FeedRow]:
    """Every feed of the feed file, with what the state store knows about it (unhealthiest first)."""
    from ingest.feeds import load_feed_sources
    from ingest.state import StateStore

    sources = {s.url: s for s in load_feed_sources(options.feeds.feeds_file)}
    states = []
    if Path(options.state.path).exists():  # never create the store from a web request
        with StateStore(options.state) as store:
            states = store.feed_health()
    rows: list[FeedRow] = []
    for state in states:
        source = sources.pop(state.url, None)
        if source is None:
            status = "unknown to the feed file"
        elif state.consecutive_failures >= options.state.failure_threshold:
            status = "backing off"
        elif state.consecutive_failures:
            status = "failing"
        elif state.last_polled_at is None:
            status = "not polled yet"
        else:
            status = "ok"
        rows.append(
            FeedRow(
                name=source.name if source else "",
                url=state.url,
                publisher=source.publisher if source else "",
                status=status,
                consecutive_failures=state.consecutive_failures,
                last_polled_at=_when(state.last_polled_at),
                last_success_at=_when(state.last_success_at),
                last_status=state.last_status,
                last_error=state.last_error or "",
                next_poll_after=_when(state.next_poll_after),
            )
        )
    for source in sources.values():
        rows.append(FeedRow(source.name, source.url, source.publisher, "not polled yet", 0, "", "", None, "", ""))
    order = {"backing off": 0, "failing": 1, "unknown to the feed file": 2, "not polled yet": 3, "ok": 4}
    rows.sort(key=lambda r: (order.get(r.status, 5), -r.consecutive_failures, r.name or r.url))
    return rows


def collect(options: PipelineOptions | None = None) -> Overview:
    """Stories and feed health; each source's failure becomes that section's error message."""
    from ingest.config import PipelineOptions
    from ingest.errors import IngestError

    try:
        options = options or PipelineOptions.from_env()
    except IngestError as exc:  # a bad NEWS_* value: both sections say so, the page still renders
        logger.warning("news-ingest page: configuration: %s", exc)
        return Overview(_when(datetime.now(UTC)), "?", "?", "?", stories_error=str(exc), feeds_error=str(exc))
    overview = Overview(
        generated_at=_when(datetime.now(UTC)),
        articles_alias=options.index.articles_alias,
        stories_alias=options.index.stories_alias,
        state_path=str(options.state.path),
    )
    try:
        es = _client(options)
        try:
            overview.stories = latest_stories(es, options.index.stories_alias)
        finally:
            es.close()
    except IngestError as exc:
        logger.warning("news-ingest page: stories unavailable: %s", exc)
        overview.stories_error = str(exc)
    except Exception as exc:  # a page must render whatever goes wrong; the log has the traceback
        logger.exception("news-ingest page: reading stories failed")
        overview.stories_error = f"{type(exc).__name__}: {exc}"
    try:
        overview.feeds = feed_rows(options)
    except IngestError as exc:
        logger.warning("news-ingest page: feed health unavailable: %s", exc)
        overview.feeds_error = str(exc)
    except Exception as exc:
        logger.exception("news-ingest page: reading feed health failed")
        overview.feeds_error = f"{type(exc).__name__}: {exc}"
    return overview


# --- HTML ----------------------------------------------------------------------------------------------------

#: Jinja template of the page (autoescaped).
TEMPLATE = Path(__file__).with_name("overview.html")


def render(overview: Overview) -> str:
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(TEMPLATE.read_text("utf-8")).render(o=overview)


def build_app() -> Any:
    """The FastAPI app: ``/`` (the page) and ``/overview.json`` (the same data), for authenticated users."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI(title="News ingest", docs_url=None, redoc_url=None, openapi_url=None)
    guard = [Depends(requires_access_view(AccessView.WEBSITE))]

    @app.get("/", response_class=HTMLResponse, dependencies=guard)
    def overview_page() -> HTMLResponse:
        return HTMLResponse(render(collect()), headers={"Cache-Control": "no-store"})

    @app.get("/overview.json", dependencies=guard)
    def overview_json() -> dict[str, Any]:
        return collect().as_dict()

    return app


app = LazyApp(build_app)
