"""Offline validation of saved objects, as strict as Kibana 9.2.8's import is (see :mod:`ingest.kibana.versions`).

:func:`problems` returns every problem found (empty = importable as far as can be checked without a Kibana):
versions at or below what 9.2.8 knows, no repeated ``type:id``, references resolving (and every reference name the
attributes use being declared), attributes allowed by the type's schema, JSON-string attributes that parse, Lens
layers that are internally consistent, dashboard grids that fit, time ranges Kibana can parse, and every field a
data view, search or visualisation uses existing in the index template behind it (aggregatable where it is
aggregated). :func:`field_uses` and :func:`queries` expose what the integration tests check against the real
Elasticsearch (``_field_caps``, ``query_string``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest import indexing
from ingest.config import IndexOptions
from ingest.kibana.objects import GRID_COLUMNS, RECORDS, SavedObject
from ingest.kibana.versions import (
    ALLOWED_ATTRIBUTES,
    CORE_MIGRATION_VERSION,
    GENERATED_VERSIONS,
    KIBANA_VERSION,
    TYPE_VERSIONS,
    parse_version,
)

#: Elasticsearch field types with doc values, i.e. usable in aggregations and sorts.
AGGREGATABLE = frozenset(
    {"keyword", "date", "date_nanos", "boolean", "integer", "long", "short", "byte", "float", "double", "ip"}
)
_DATE_MATH = re.compile(r"^now([+-]\d+[smhdwMy])*(/[smhdwMy])?$")
#: ``field:`` at a term boundary of a Lucene query (quoted phrases are removed first).
_LUCENE_FIELD = re.compile(r"(?:^|[\s(])([A-Za-z_][\w.]*):")
_JSON_STRINGS = {
    "index-pattern": ("fieldAttrs", "fieldFormatMap", "fields", "runtimeFieldMap", "sourceFilters"),
    "dashboard": ("optionsJSON", "panelsJSON"),
}


@dataclass(frozen=True)
class FieldUse:
    """A field of a data view's index that one saved object relies on."""

    view_id: str
    field: str
    aggregated: bool
    where: str


@dataclass(frozen=True)
class SavedQuery:
    """A Lucene query stored in a saved search or a visualisation, over one data view."""

    key: str
    title: str
    view_id: str
    query: str


def template_fields(template: Mapping[str, Any]) -> dict[str, str]:
    """Flatten an index template's mapping into ``{dotted.path: type}``, multi-fields included."""
    out: dict[str, str] = {}

    def walk(props: Mapping[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            path = f"{prefix}{name}"
            out[path] = str(spec.get("type", "object"))
            walk(spec.get("properties", {}), f"{path}.")
            walk(spec.get("fields", {}), f"{path}.")

    walk(template["template"]["mappings"]["properties"], "")
    return out


def fields_by_alias(index: IndexOptions) -> dict[str, dict[str, str]]:
    """``{alias: {field: type}}`` for every index the project installs."""
    return {spec.alias: template_fields(indexing.load_template(spec.template)) for spec in indexing.specs(index)}


def lucene_fields(query: str) -> set[str]:
    """Field names a Lucene query names explicitly (``tags:x AND body:"a b"`` -> ``{tags, body}``)."""
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    return set(_LUCENE_FIELD.findall(unquoted))


def _loads(value: Any, what: str, problems: list[str]) -> Any:
    if not isinstance(value, str):
        problems.append(f"{what} is not a JSON string")
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        problems.append(f"{what} is not valid JSON: {exc}")
        return None


def _view_of(obj: SavedObject, ref_name: str) -> str | None:
    return next((r.id for r in obj.references if r.name == ref_name and r.type == "index-pattern"), None)


def _lens_state(obj: SavedObject) -> tuple[dict[str, Any], dict[str, Any], str]:
    state = obj.attributes.get("state") or {}
    layers = state.get("datasourceStates", {}).get("formBased", {}).get("layers", {})
    query = str(state.get("query", {}).get("query", ""))
    return state, layers, query


def _search_source(obj: SavedObject) -> dict[str, Any]:
    raw = obj.attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}")
    try:
        parsed = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def field_uses(objects: Iterable[SavedObject]) -> list[FieldUse]:
    """Every field the objects use, with the data view it belongs to and whether it is aggregated."""
    uses: list[FieldUse] = []
    for obj in objects:
        attrs = obj.attributes
        if obj.type == "index-pattern":
            uses.append(FieldUse(obj.id, str(attrs["timeFieldName"]), True, f"{obj.key} timeFieldName"))
            for key in ("fieldFormatMap", "fieldAttrs"):
                for name in json.loads(attrs.get(key) or "{}"):
                    uses.append(FieldUse(obj.id, name, False, f"{obj.key} {key}"))
            for item in json.loads(attrs.get("sourceFilters") or "[]"):
                uses.append(FieldUse(obj.id, item["value"], False, f"{obj.key} sourceFilters"))
        elif obj.type == "search":
            view = _view_of(obj, "kibanaSavedObjectMeta.searchSourceJSON.index") or ""
            for column in attrs.get("columns", []):
                uses.append(FieldUse(view, column, False, f"{obj.key} column"))
            for name, _direction in attrs.get("sort", []):
                uses.append(FieldUse(view, name, True, f"{obj.key} sort"))
            query = str(_search_source(obj).get("query", {}).get("query", ""))
            uses.extend(FieldUse(view, name, False, f"{obj.key} query") for name in sorted(lucene_fields(query)))
        elif obj.type == "lens":
            _state, layers, query = _lens_state(obj)
            for layer_id, layer in layers.items():
                view = _view_of(obj, f"indexpattern-datasource-layer-{layer_id}") or ""
                for col_id, col in layer.get("columns", {}).items():
                    source = col.get("sourceField")
                    if source and source != RECORDS:
                        uses.append(FieldUse(view, source, True, f"{obj.key} column {col_id}"))
                    sort_field = col.get("params", {}).get("sortField")
                    if sort_field:
                        uses.append(FieldUse(view, sort_field, True, f"{obj.key} column {col_id} sortField"))
                uses.extend(FieldUse(view, name, False, f"{obj.key} query") for name in sorted(lucene_fields(query)))
    return uses


def queries(objects: Iterable[SavedObject]) -> list[SavedQuery]:
    """The Lucene queries of saved searches and visualisations (empty queries left out)."""
    out: list[SavedQuery] = []
    for obj in objects:
        if obj.type == "search":
            query = str(_search_source(obj).get("query", {}).get("query", ""))
            view = _view_of(obj, "kibanaSavedObjectMeta.searchSourceJSON.index") or ""
        elif obj.type == "lens":
            _state, layers, query = _lens_state(obj)
            layer_id = next(iter(layers), "")
            view = _view_of(obj, f"indexpattern-datasource-layer-{layer_id}") or ""
        else:
            continue
        if query:
            out.append(SavedQuery(obj.key, obj.title, view, query))
    return out


def _valid_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if _DATE_MATH.match(value):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_versions(obj: SavedObject, raw: Mapping[str, Any], problems: list[str]) -> None:
    known = TYPE_VERSIONS.get(obj.type)
    if known is None:
        problems.append(f"{obj.key}: type {obj.type!r} has no known version in Kibana {KIBANA_VERSION}")
        return
    try:
        type_version = parse_version(str(raw.get("typeMigrationVersion")))
        core_version = parse_version(str(raw.get("coreMigrationVersion")))
    except ValueError as exc:
        problems.append(f"{obj.key}: {exc}")
        return
    if type_version > parse_version(known.newest):
        problems.append(
            f"{obj.key}: typeMigrationVersion {raw['typeMigrationVersion']} is newer than Kibana {KIBANA_VERSION}'s "
            f"{known.newest} ({known.source})"
        )
    if core_version > parse_version(CORE_MIGRATION_VERSION) or core_version > parse_version(KIBANA_VERSION):
        problems.append(
            f"{obj.key}: coreMigrationVersion {raw['coreMigrationVersion']} is newer than {CORE_MIGRATION_VERSION}"
        )


def _check_lens(obj: SavedObject, problems: list[str]) -> None:
    state, layers, _query = _lens_state(obj)
    if not layers:
        problems.append(f"{obj.key}: no formBased layers")
        return
    ref_names = {r.name for r in obj.references}
    all_columns: set[str] = set()
    for layer_id, layer in layers.items():
        if f"indexpattern-datasource-layer-{layer_id}" not in ref_names:
            problems.append(f"{obj.key}: layer {layer_id} has no data view reference")
        columns = layer.get("columns", {})
        order = list(layer.get("columnOrder", []))
        if len(order) != len(set(order)) or set(order) != set(columns):
            problems.append(f"{obj.key}: layer {layer_id} columnOrder does not list each of its columns once")
        for col_id, col in columns.items():
            order_by = col.get("params", {}).get("orderBy", {})
            if order_by.get("type") == "column":
                target = columns.get(order_by.get("columnId"))
                if target is None or target.get("isBucketed"):
                    problems.append(f"{obj.key}: column {col_id} is ordered by a missing or bucketed column")
            if col.get("operationType") == "count" and col.get("sourceField") != RECORDS:
                problems.append(f"{obj.key}: count column {col_id} must use {RECORDS}")
        all_columns |= set(columns)
    vis = state.get("visualization", {})
    used: list[str] = []
    kind = obj.attributes.get("visualizationType")
    if kind == "lnsXY":
        for layer in vis.get("layers", []):
            used += [*layer.get("accessors", []), layer.get("xAccessor"), *filter(None, [layer.get("splitAccessor")])]
            if layer.get("layerId") not in layers:
                problems.append(f"{obj.key}: XY layer {layer.get('layerId')} has no datasource layer")
    elif kind == "lnsDatatable":
        used += [c.get("columnId") for c in vis.get("columns", [])]
        sort_col = vis.get("sorting", {}).get("columnId")
        if sort_col:
            used.append(sort_col)
    elif kind == "lnsMetric":
        used.append(vis.get("metricAccessor"))
    elif kind == "lnsPie":
        for layer in vis.get("layers", []):
            used += [*layer.get("primaryGroups", []), *layer.get("metrics", [])]
    else:
        problems.append(f"{obj.key}: unsupported visualizationType {kind!r}")
    for col_id in used:
        if col_id not in all_columns:
            problems.append(f"{obj.key}: visualization uses unknown column {col_id!r}")


def _check_dashboard(obj: SavedObject, problems: list[str]) -> None:
    attrs = obj.attributes
    panels = _loads(attrs.get("panelsJSON"), f"{obj.key}: panelsJSON", problems) or []
    refs = {r.name: r for r in obj.references}
    cells: dict[tuple[int, int], str] = {}
    seen: set[str] = set()
    for panel in panels:
        index = str(panel.get("panelIndex"))
        if index in seen or panel.get("gridData", {}).get("i") != index:
            problems.append(f"{obj.key}: panel {index} is repeated or its gridData.i differs")
        seen.add(index)
        ref = refs.get(f"{index}:{panel.get('panelRefName')}")
        if ref is None or ref.type != panel.get("type"):
            problems.append(f"{obj.key}: panel {index} has no matching reference")
        grid = panel.get("gridData", {})
        x, y, w, h = (int(grid.get(k, -1)) for k in ("x", "y", "w", "h"))
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > GRID_COLUMNS:
            problems.append(f"{obj.key}: panel {index} does not fit the {GRID_COLUMNS}-column grid")
            continue
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                if (cx, cy) in cells:
                    problems.append(f"{obj.key}: panels {cells[cx, cy]} and {index} overlap")
                    break
                cells[cx, cy] = index
            else:
                continue
            break
    if attrs.get("timeRestore") and not (_valid_time(attrs.get("timeFrom")) and _valid_time(attrs.get("timeTo"))):
        problems.append(f"{obj.key}: time range {attrs.get('timeFrom')!r}..{attrs.get('timeTo')!r} is not valid")


def _check_search(obj: SavedObject, problems: list[str]) -> None:
    attrs = obj.attributes
    source = _loads(
        attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON"), f"{obj.key}: searchSourceJSON", problems
    )
    if not isinstance(source, dict):
        return
    names = {r.name for r in obj.references}
    if source.get("indexRefName") not in names:
        problems.append(f"{obj.key}: searchSourceJSON.indexRefName is not a reference")
    if source.get("query", {}).get("language") not in ("lucene", "kuery"):
        problems.append(f"{obj.key}: query language must be lucene or kuery")
    time_range = attrs.get("timeRange", {})
    if attrs.get("timeRestore") and not (_valid_time(time_range.get("from")) and _valid_time(time_range.get("to"))):
        problems.append(f"{obj.key}: timeRange {time_range!r} is not valid")


def _check_fields(objects: Sequence[SavedObject], index: IndexOptions, problems: list[str]) -> None:
    views = {o.id: str(o.attributes.get("title")) for o in objects if o.type == "index-pattern"}
    by_alias = fields_by_alias(index)
    for use in field_uses(objects):
        title = views.get(use.view_id)
        fields = by_alias.get(title or "")
        if fields is None:
            problems.append(
                f"{use.where}: data view {use.view_id!r} ({title}) is not over an index the project installs"
            )
            continue
        kind = fields.get(use.field)
        if kind is None:
            problems.append(f"{use.where}: field {use.field!r} is not in the {title} template")
        elif use.aggregated and kind not in AGGREGATABLE:
            problems.append(f"{use.where}: field {use.field!r} ({kind}) is not aggregatable")
        elif use.where.endswith("timeFieldName") and kind not in ("date", "date_nanos"):
            problems.append(f"{use.where}: time field {use.field!r} is a {kind}, not a date")


def problems(objects: Sequence[SavedObject], index: IndexOptions | None = None) -> list[str]:
    """Everything Kibana 9.2.8's import (or the first render) would reject, as far as it can be checked offline."""
    index = index or IndexOptions()
    found: list[str] = []
    keys = [o.key for o in objects]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        found.append(f"{key}: repeated type:id")
    known = set(keys)
    for obj in objects:
        _check_versions(obj, obj.to_json(), found)
        allowed = ALLOWED_ATTRIBUTES.get(obj.type, frozenset())
        for name in sorted(set(obj.attributes) - allowed):
            found.append(
                f"{obj.key}: attribute {name!r} is not in the {obj.type} schema at {GENERATED_VERSIONS.get(obj.type)}"
            )
        if not obj.title:
            found.append(f"{obj.key}: no title")
        for attr in _JSON_STRINGS.get(obj.type, ()):
            _loads(obj.attributes.get(attr), f"{obj.key}: {attr}", found)
        names = [r.name for r in obj.references]
        if len(names) != len(set(names)):
            found.append(f"{obj.key}: repeated reference names")
        for ref in obj.references:
            if f"{ref.type}:{ref.id}" not in known:
                found.append(f"{obj.key}: reference {ref.name} -> {ref.type}:{ref.id} does not resolve")
        if obj.type == "lens":
            _check_lens(obj, found)
        elif obj.type == "dashboard":
            _check_dashboard(obj, found)
        elif obj.type == "search":
            _check_search(obj, found)
        elif obj.type == "index-pattern" and not obj.attributes.get("timeFieldName"):
            found.append(f"{obj.key}: no time field")
    _check_fields(objects, index, found)
    return found


__all__ = [
    "AGGREGATABLE",
    "FieldUse",
    "SavedQuery",
    "field_uses",
    "fields_by_alias",
    "lucene_fields",
    "problems",
    "queries",
]
