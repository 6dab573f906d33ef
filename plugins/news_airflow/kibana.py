"""Kibana Discover URLs for this project's documents, in the form Kibana 9 parses.

Discover keeps its state in the URL hash as two rison-encoded query parameters: ``_g`` (global: the time range)
and ``_a`` (app: data view, query, columns, sort). Kibana reads them with ``URLSearchParams`` and
``rison.decode`` (``kibana_utils/common/state_management/parse.ts``), and writes them percent-encoded except
for rison's own punctuation (``url.encodeQuery``); :func:`discover_url` does the same.

Rison (https://github.com/Nanonid/rison) is small enough to encode here: none of the Python ports is kept up,
and only encoding is needed. Pure Python, no Airflow: imported by the extra links in the API server and by
unit tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

#: Data view ids of the analyst's saved objects (``ingest/data/kibana/saved_objects.ndjson``): one constant
#: each, so the links and the imported objects cannot drift apart silently.
ARTICLES_DATA_VIEW = "news-articles"
STORIES_DATA_VIEW = "news-stories"
#: The time field of each data view (Discover's time picker filters on it).
ARTICLES_TIME_FIELD = "published_at"
STORIES_TIME_FIELD = "last_seen"

DEFAULT_KIBANA_URL = "http://127.0.0.1:5601"
#: A time range wide enough for any article date (for links that select by another field than the time field).
WIDE_FROM, WIDE_TO = "now-30y", "now+1d"

Rison = None | bool | int | float | str | Sequence["Rison"] | Mapping[str, "Rison"]

# rison-node: an id may not start with "-" or a digit and contains none of " '!:(),*@$"
_ID = re.compile(r"^[^-0-9 '!:(),*@$][^ '!:(),*@$]*$")
# Kibana's url.encodeQuery: encodeURIComponent, then "@ : $ , ;" restored; rison's "!'()*" survive as well.
_URL_SAFE = "-_.!~*'()@:$,;"


def rison(value: Rison) -> str:
    """Encode ``value`` as rison (object keys sorted, as rison.js does)."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        if _ID.match(value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, Mapping):
        return "(" + ",".join(f"{rison(str(k))}:{rison(v)}" for k, v in sorted(value.items())) + ")"
    return "!(" + ",".join(rison(v) for v in value) + ")"


def kibana_base_url() -> str:
    """``NEWS_KIBANA_URL``, else Airflow's ``[news_ingest] kibana_url``, else :data:`DEFAULT_KIBANA_URL`."""
    url = os.environ.get("NEWS_KIBANA_URL", "").strip()
    if not url:
        try:
            from airflow.configuration import conf

            url = str(conf.get("news_ingest", "kibana_url", fallback="") or "").strip()
        except ImportError:  # outside Airflow (unit tests of this module, scripts)
            url = ""
    return (url or DEFAULT_KIBANA_URL).rstrip("/")


def kibana_instant(value: datetime | str) -> str:
    """An instant as Kibana writes absolute times: UTC, milliseconds, ``Z``."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def lucene_range(field: str, start: datetime | str | None, end: datetime | str | None, *, end_open: bool) -> str:
    """``field:["start" TO "end"}`` (``*`` for an open side); half-open windows end with ``}``."""
    low = f'"{kibana_instant(start)}"' if start else "*"
    high = f'"{kibana_instant(end)}"' if end else "*"
    return f"{field}:[{low} TO {high}{'}' if end_open and end else ']'}"


def lucene_terms(field: str, values: Sequence[str]) -> str:
    """``field:("a" OR "b")`` with Lucene's phrase escaping."""
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    return f"{field}:({' OR '.join(quoted)})"


@dataclass(frozen=True)
class Discover:
    """One Discover view: a data view, a Lucene query, a time range, columns and a sort."""

    data_view: str
    query: str
    time_from: str
    time_to: str
    columns: tuple[str, ...] = ()
    sort: tuple[tuple[str, str], ...] = ()

    def url(self, base: str | None = None) -> str:
        return discover_url(
            base or kibana_base_url(),
            data_view=self.data_view,
            query=self.query,
            time_from=self.time_from,
            time_to=self.time_to,
            columns=self.columns,
            sort=self.sort,
        )


def discover_url(
    base: str,
    *,
    data_view: str,
    query: str,
    time_from: str,
    time_to: str,
    columns: Sequence[str] = (),
    sort: Sequence[tuple[str, str]] = (),
) -> str:
    """``{base}/app/discover#/?_g=(time:(from:…,to:…))&_a=(dataSource:…,query:(language:lucene,query:…))``."""
    g: dict[str, Rison] = {"filters": [], "time": {"from": time_from, "to": time_to}}
    a: dict[str, Rison] = {
        "dataSource": {"dataViewId": data_view, "type": "dataView"},
        "filters": [],
        "query": {"language": "lucene", "query": query},
    }
    if columns:
        a["columns"] = list(columns)
    if sort:
        a["sort"] = [[name, direction] for name, direction in sort]
    return (
        f"{base.rstrip('/')}/app/discover#/?_g={quote(rison(g), safe=_URL_SAFE)}&_a={quote(rison(a), safe=_URL_SAFE)}"
    )


ARTICLE_COLUMNS = ("title", "outlet", "language", "tags", "story_title", "published_at", "fetched_at")
STORY_COLUMNS = ("headline", "article_count", "languages", "outlets", "first_seen", "last_seen")


def articles_by_capture(start: str, end: str, feeds: Sequence[str] = (), *, end_open: bool = True) -> Discover:
    """Articles whose page was fetched in ``[start, end)`` (``end_open=False``: ``[start, end]``)."""
    query = lucene_range("fetched_at", start, end, end_open=end_open)
    if feeds:
        query += " AND " + lucene_terms("feeds", feeds)
    return Discover(ARTICLES_DATA_VIEW, query, WIDE_FROM, WIDE_TO, ARTICLE_COLUMNS, (("fetched_at", "desc"),))


def articles_by_publish(start: str, end: str, feeds: Sequence[str] = ()) -> Discover:
    """Articles published in ``[start, end)``: the data view's own time field, so the time picker shows it."""
    query = lucene_terms("feeds", feeds) if feeds else ""
    return Discover(
        ARTICLES_DATA_VIEW,
        query,
        kibana_instant(start),
        kibana_instant(end),
        ARTICLE_COLUMNS,
        ((ARTICLES_TIME_FIELD, "desc"),),
    )


def articles_grouped(start: str, end: str | None) -> Discover:
    """Articles assigned to a story in ``[start, end]`` (a stories run)."""
    return Discover(
        ARTICLES_DATA_VIEW,
        lucene_range("story_assigned_at", start, end, end_open=False),
        WIDE_FROM,
        WIDE_TO,
        ARTICLE_COLUMNS,
        (("story_assigned_at", "desc"),),
    )


def stories_updated(start: str, end: str | None) -> Discover:
    """Stories created or changed in ``[start, end]`` (``end`` None: since ``start``)."""
    return Discover(
        STORIES_DATA_VIEW,
        lucene_range("updated_at", start, end, end_open=False),
        WIDE_FROM,
        WIDE_TO,
        STORY_COLUMNS,
        (("updated_at", "desc"),),
    )


def stories_active(start: str, end: str) -> Discover:
    """Stories with coverage in the publish window ``[start, end)``: first seen before its end, last seen after
    its start."""
    began_before = lucene_range("first_seen", None, end, end_open=True)
    query = f"{began_before} AND {lucene_range('last_seen', start, None, end_open=False)}"
    return Discover(
        STORIES_DATA_VIEW,
        query,
        kibana_instant(start),
        WIDE_TO,
        STORY_COLUMNS,
        ((STORIES_TIME_FIELD, "desc"),),
    )
