"""Typed builders for the Kibana saved objects the project ships: data views, saved searches, Lens
visualisations and dashboards, in the attribute shapes of :data:`ingest.kibana.versions.GENERATED_VERSIONS`.

Kibana stores several attributes as JSON *strings* (``panelsJSON``, ``searchSourceJSON``, ``fieldFormatMap``...);
the builders take Python values and encode them, so :mod:`ingest.kibana.content` reads as a description of the
product and not as escaped JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ingest.kibana.versions import CORE_MIGRATION_VERSION, GENERATED_VERSIONS

#: JSON as Kibana stores it (saved-object attributes are Kibana's schema, not ours).
JSON = Any

#: Lens' pseudo field of "Count of records".
RECORDS = "___records___"
SEARCH_INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def dumps(value: JSON) -> str:
    """Compact, key-ordered JSON: the NDJSON is byte-for-byte reproducible."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Reference:
    """A named pointer from one saved object to another (``type:id``)."""

    name: str
    type: str
    id: str


@dataclass(frozen=True)
class SavedObject:
    """One line of the NDJSON."""

    type: str
    id: str
    attributes: Mapping[str, JSON]
    references: tuple[Reference, ...] = ()
    #: Versions as read from an NDJSON file; None = what the generator writes (:data:`GENERATED_VERSIONS`).
    type_version: str | None = None
    core_version: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> SavedObject:
        """One parsed NDJSON line (as Kibana exports it)."""
        refs = tuple(Reference(str(r["name"]), str(r["type"]), str(r["id"])) for r in raw.get("references", []))
        return cls(
            type=str(raw["type"]),
            id=str(raw["id"]),
            attributes=dict(raw.get("attributes", {})),
            references=refs,
            type_version=str(raw.get("typeMigrationVersion", "")),
            core_version=str(raw.get("coreMigrationVersion", "")),
        )

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"

    @property
    def title(self) -> str:
        return str(self.attributes.get("title", ""))

    def to_json(self) -> dict[str, JSON]:
        return {
            "attributes": dict(self.attributes),
            "coreMigrationVersion": self.core_version or CORE_MIGRATION_VERSION,
            "id": self.id,
            "managed": False,
            "references": [{"id": r.id, "name": r.name, "type": r.type} for r in self.references],
            "type": self.type,
            "typeMigrationVersion": self.type_version or GENERATED_VERSIONS.get(self.type, ""),
        }


@dataclass(frozen=True)
class TimeRange:
    """A Kibana time range (``from``/``to`` in date-math or ISO 8601)."""

    start: str
    end: str = "now"


# --- data views -----------------------------------------------------------------------------------------------


def url_format(url_template: str | None = None, label_template: str | None = None) -> dict[str, JSON]:
    """The ``url`` field format: values become links (relative templates resolve inside Kibana)."""
    params: dict[str, JSON] = {"type": "a", "urlTemplate": url_template, "labelTemplate": label_template}
    if url_template is not None and url_template.startswith("/"):
        params["openLinkInCurrentTab"] = True
    return {"id": "url", "params": params}


def data_view(
    view_id: str,
    *,
    title: str,
    name: str,
    time_field: str,
    formats: Mapping[str, Mapping[str, JSON]] | None = None,
    labels: Mapping[str, str] | None = None,
    hidden_fields: Sequence[str] = (),
) -> SavedObject:
    """An ``index-pattern`` object over ``title`` (an alias or pattern) with field formats and custom labels."""
    attributes = {
        "allowHidden": False,
        "fieldAttrs": dumps({f: {"customLabel": label} for f, label in (labels or {}).items()}),
        "fieldFormatMap": dumps(dict(formats or {})),
        "fields": "[]",
        "name": name,
        "runtimeFieldMap": "{}",
        "sourceFilters": dumps([{"value": f} for f in hidden_fields]),
        "timeFieldName": time_field,
        "title": title,
    }
    return SavedObject("index-pattern", view_id, attributes)


# --- saved searches -------------------------------------------------------------------------------------------


def saved_search(
    search_id: str,
    *,
    title: str,
    description: str,
    view: SavedObject,
    query: str,
    columns: Sequence[str],
    sort: Sequence[tuple[str, Literal["asc", "desc"]]],
    time_range: TimeRange,
) -> SavedObject:
    """A Discover session with a Lucene query (run by Elasticsearch's ``query_string`` exactly as written)."""
    source = {
        "filter": [],
        "highlightAll": True,
        "indexRefName": SEARCH_INDEX_REF,
        "query": {"language": "lucene", "query": query},
    }
    attributes = {
        "columns": list(columns),
        "description": description,
        "grid": {},
        "hideChart": False,
        "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": dumps(source)},
        "refreshInterval": {"pause": True, "value": 60000},
        "sort": [[name, direction] for name, direction in sort],
        "timeRange": {"from": time_range.start, "to": time_range.end},
        "timeRestore": True,
        "title": title,
    }
    return SavedObject("search", search_id, attributes, (Reference(SEARCH_INDEX_REF, "index-pattern", view.id),))


# --- Lens -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a Lens ``formBased`` layer (a bucket or a metric)."""

    id: str
    operation: str
    label: str
    data_type: str
    bucketed: bool
    source: str | None = None
    params: Mapping[str, JSON] = field(default_factory=dict)
    scale: str = "ratio"

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "customLabel": True,
            "dataType": self.data_type,
            "isBucketed": self.bucketed,
            "label": self.label,
            "operationType": self.operation,
            "params": dict(self.params),
            "scale": self.scale,
        }
        if self.source is not None:
            out["sourceField"] = self.source
        return out


def count(col_id: str, label: str = "Articles") -> Column:
    return Column(col_id, "count", label, "number", False, RECORDS, {"emptyAsNull": True})


def metric(col_id: str, operation: str, field_name: str, label: str) -> Column:
    """sum / average / max / min / unique_count of a field."""
    params: dict[str, JSON] = {"emptyAsNull": True} if operation != "unique_count" else {}
    return Column(col_id, operation, label, "number", False, field_name, params)


def last_value(col_id: str, field_name: str, sort_field: str, label: str) -> Column:
    return Column(
        col_id,
        "last_value",
        label,
        "string",
        False,
        field_name,
        {"showArrayValues": False, "sortField": sort_field},
        scale="ordinal",
    )


def date_histogram(col_id: str, field_name: str, label: str) -> Column:
    params = {"dropPartials": False, "includeEmptyRows": True, "interval": "auto"}
    return Column(col_id, "date_histogram", label, "date", True, field_name, params, scale="interval")


def terms(col_id: str, field_name: str, label: str, *, size: int, order_by: str, other: bool = False) -> Column:
    """Top ``size`` values of a field, ordered by the metric column ``order_by``."""
    params = {
        "missingBucket": False,
        "orderBy": {"columnId": order_by, "type": "column"},
        "orderDirection": "desc",
        "otherBucket": other,
        "parentFormat": {"id": "terms"},
        "size": size,
    }
    return Column(col_id, "terms", label, "string", True, field_name, params, scale="ordinal")


@dataclass(frozen=True)
class Chart:
    """What a Lens visualisation shows: its type, its columns, and the chart settings over them."""

    visualization_type: Literal["lnsXY", "lnsDatatable", "lnsMetric", "lnsPie"]
    columns: tuple[Column, ...]
    visualization: Mapping[str, JSON]


LAYER = "layer1"


def xy_chart(*, x: Column, y: Sequence[Column], split: Column | None = None, series: str = "bar_stacked") -> Chart:
    layer: dict[str, JSON] = {
        "accessors": [c.id for c in y],
        "layerId": LAYER,
        "layerType": "data",
        "position": "top",
        "seriesType": series,
        "showGridlines": False,
        "xAccessor": x.id,
    }
    if split is not None:
        layer["splitAccessor"] = split.id
    visualization = {
        "layers": [layer],
        "legend": {"isVisible": True, "position": "right"},
        "preferredSeriesType": series,
        "valueLabels": "hide",
    }
    buckets = [x] if split is None else [split, x]
    return Chart("lnsXY", (*buckets, *y), visualization)


def bar_chart(*, category: Column, value: Column, horizontal: bool = True) -> Chart:
    series = "bar_horizontal" if horizontal else "bar"
    return xy_chart(x=category, y=[value], series=series)


def table(*, rows: Sequence[Column], values: Sequence[Column], sort_by: Column | None = None) -> Chart:
    visualization: dict[str, JSON] = {
        "columns": [{"columnId": c.id, "isTransposed": False} for c in (*rows, *values)],
        "layerId": LAYER,
        "layerType": "data",
    }
    if sort_by is not None:
        visualization["sorting"] = {"columnId": sort_by.id, "direction": "desc"}
    return Chart("lnsDatatable", (*rows, *values), visualization)


def metric_tile(value: Column) -> Chart:
    return Chart("lnsMetric", (value,), {"layerId": LAYER, "layerType": "data", "metricAccessor": value.id})


def donut(*, groups: Column, value: Column) -> Chart:
    layer = {
        "categoryDisplay": "default",
        "layerId": LAYER,
        "layerType": "data",
        "legendDisplay": "default",
        "metrics": [value.id],
        "nestedLegend": False,
        "numberDisplay": "percent",
        "primaryGroups": [groups.id],
    }
    return Chart("lnsPie", (groups, value), {"layers": [layer], "shape": "donut"})


def lens(vis_id: str, *, title: str, description: str, view: SavedObject, chart: Chart, query: str = "") -> SavedObject:
    """A Lens visualisation over one data view (one ``formBased`` layer), filtered by a Lucene ``query``."""
    columns = {c.id: c.to_json() for c in chart.columns}
    state = {
        "adHocDataViews": {},
        "datasourceStates": {
            "formBased": {
                "layers": {
                    LAYER: {"columnOrder": [c.id for c in chart.columns], "columns": columns, "incompleteColumns": {}}
                }
            }
        },
        "filters": [],
        "internalReferences": [],
        "query": {"language": "lucene", "query": query},
        "visualization": dict(chart.visualization),
    }
    attributes = {
        "description": description,
        "state": state,
        "title": title,
        "visualizationType": chart.visualization_type,
    }
    ref = Reference(f"indexpattern-datasource-layer-{LAYER}", "index-pattern", view.id)
    return SavedObject("lens", vis_id, attributes, (ref,))


# --- dashboards -----------------------------------------------------------------------------------------------

#: Kibana's dashboard grid is 48 columns wide.
GRID_COLUMNS = 48


@dataclass(frozen=True)
class Panel:
    """A saved object placed on the dashboard grid."""

    target: SavedObject
    x: int
    y: int
    w: int
    h: int


def dashboard(
    dash_id: str, *, title: str, description: str, panels: Sequence[Panel], time_range: TimeRange
) -> SavedObject:
    """A dashboard of panels by reference, with its time range stored (``timeRestore``)."""
    entries = []
    refs = []
    for n, panel in enumerate(panels, start=1):
        index = f"p{n}"
        entries.append(
            {
                "embeddableConfig": {"enhancements": {}},
                "gridData": {"h": panel.h, "i": index, "w": panel.w, "x": panel.x, "y": panel.y},
                "panelIndex": index,
                "panelRefName": f"panel_{index}",
                "type": panel.target.type,
            }
        )
        refs.append(Reference(f"{index}:panel_{index}", panel.target.type, panel.target.id))
    options = {
        "hidePanelTitles": False,
        "syncColors": True,
        "syncCursor": True,
        "syncTooltips": True,
        "useMargins": True,
    }
    attributes = {
        "description": description,
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": dumps({"filter": [], "query": {"language": "lucene", "query": ""}})
        },
        "optionsJSON": dumps(options),
        "panelsJSON": dumps(entries),
        "refreshInterval": {"pause": True, "value": 60000},
        "timeFrom": time_range.start,
        "timeRestore": True,
        "timeTo": time_range.end,
        "title": title,
        "version": 1,
    }
    return SavedObject("dashboard", dash_id, attributes, tuple(refs))


__all__ = [
    "GRID_COLUMNS",
    "JSON",
    "RECORDS",
    "Chart",
    "Column",
    "Panel",
    "Reference",
    "SavedObject",
    "TimeRange",
    "bar_chart",
    "count",
    "dashboard",
    "data_view",
    "date_histogram",
    "donut",
    "dumps",
    "last_value",
    "lens",
    "metric",
    "metric_tile",
    "saved_search",
    "table",
    "terms",
    "url_format",
    "xy_chart",
]
