"""What Kibana 9.2.8 accepts on import, read from the elastic/kibana source (the pinned Kibana = the Elasticsearch
version of ``docker-compose.yml``). No Kibana runs here, so these facts are the validator's ground truth.

On import Kibana migrates every object from its ``typeMigrationVersion`` up to the newest version of its type and
then validates the result; an object whose version is *newer* than the running Kibana knows is refused ("belongs
to a more recent version of Kibana"). Since 8.10 a type's version is either the last key of its legacy
``migrations`` map (or its ``convertToMultiNamespaceTypeVersion``) or ``10.<N>.0`` for its newest model version N.

Where the exact value at the v9.2.8 tag could not be pinned to one commit with the tools available, the value here
is the newest version *proven* to ship in 9.2 (model versions only ever grow), so "at or below" it is safe:

* ``index-pattern``: ``src/platform/plugins/shared/data_views/server/saved_objects/data_views.ts`` registers no
  ``modelVersions``; ``index_pattern_migrations.ts`` ends at ``7.11.0`` and ``convertToMultiNamespaceTypeVersion``
  is ``8.0.0``: newest = 8.0.0 (what every 8.x/9.x export carries).
* ``search``: ``src/platform/plugins/shared/saved_search/server/saved_objects/search.ts`` and ``schema.ts``: model
  versions 1-5 only add optional attributes, 6 backfills ``tabs`` (elastic/kibana#228115), 7 makes ``tabs``
  required (elastic/kibana#229897) and that change is described as shipping in the 9.2 release
  (elastic/kibana#237703, fixed by the version-9 workaround #237557): at least 10.7.0 at 9.2.8.
* ``dashboard``: ``src/platform/plugins/shared/dashboard/server/dashboard_saved_object/dashboard_saved_object.ts``:
  model version 3 (``sections``, elastic/kibana#222450, collapsible sections of 8.19/9.1) is in 9.2; version 4
  (``accessControl``, write-restricted dashboards) arrived with the feature branch elastic/kibana#224552 after
  the 9.2 line: 10.3.0. A stored ``check_registered_types.test.ts`` without version 4 (commit ffcd5fd2) lists
  ``dashboard: 10.3.0`` in its typeMigrationVersion snapshot.
* ``lens``: ``x-pack/platform/plugins/shared/lens/server/migrations/saved_object_migrations.ts`` ends at
  ``8.9.0``; ``saved_objects.ts`` adds model version 1 (10.1.0) in later sources. Proven in 9.2: 8.9.0.
* ``visualization``: legacy migrations only, newest 8.5.0 (same snapshot). Not used by the generator.

``coreMigrationVersion`` is 8.8.0 (the last core transform; Kibana's own 9.x sample data,
``src/platform/plugins/shared/home/server/services/sample_data/data_sets/logs/saved_objects.ts``, carries it
with older type versions such as dashboard 8.7.0 and search 7.9.3, which Kibana migrates on import).
"""

from __future__ import annotations

from dataclasses import dataclass

KIBANA_VERSION = "9.2.8"
CORE_MIGRATION_VERSION = "8.8.0"


@dataclass(frozen=True)
class TypeVersion:
    """The newest ``typeMigrationVersion`` of one saved-object type that Kibana 9.2.8 is known to accept."""

    newest: str
    source: str


TYPE_VERSIONS: dict[str, TypeVersion] = {
    "index-pattern": TypeVersion("8.0.0", "src/platform/plugins/shared/data_views/server/saved_objects/data_views.ts"),
    "search": TypeVersion("10.7.0", "src/platform/plugins/shared/saved_search/server/saved_objects/search.ts"),
    "dashboard": TypeVersion(
        "10.3.0", "src/platform/plugins/shared/dashboard/server/dashboard_saved_object/dashboard_saved_object.ts"
    ),
    "lens": TypeVersion("8.9.0", "x-pack/platform/plugins/shared/lens/server/migrations/saved_object_migrations.ts"),
    "visualization": TypeVersion(
        "8.5.0", "src/core/server/integration_tests/ci_checks/saved_objects/check_registered_types.test.ts"
    ),
}

#: The version the generator writes for each type it emits: the oldest shape whose attributes it knows exactly,
#: at or below :data:`TYPE_VERSIONS`; Kibana migrates them forward on import (search: flat attributes before
#: ``tabs``; dashboard: ``panelsJSON`` before ``sections``; lens: the 8.9 ``formBased`` state).
GENERATED_VERSIONS: dict[str, str] = {
    "index-pattern": "8.0.0",
    "search": "10.5.0",
    "dashboard": "10.2.0",
    "lens": "8.9.0",
}

#: Attribute names each type's schema at :data:`GENERATED_VERSIONS` allows (Kibana validates with
#: ``unknowns: 'forbid'``): search ``SCHEMA_SEARCH_MODEL_VERSION_5`` (schema.ts), dashboard
#: ``dashboardAttributesSchema`` v1/v2 (schema/v1/v1.ts), lens ``lensItemAttributesSchemaV0``, data views (no schema).
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "search": frozenset(
        {
            "title",
            "description",
            "columns",
            "sort",
            "grid",
            "rowHeight",
            "rowsPerPage",
            "hideChart",
            "breakdownField",
            "kibanaSavedObjectMeta",
            "isTextBasedQuery",
            "usesAdHocDataView",
            "timeRestore",
            "timeRange",
            "refreshInterval",
            "viewMode",
            "hideAggregatedPreview",
            "hits",
            "version",
            "sampleSize",
            "headerRowHeight",
            "visContext",
            "density",
        }
    ),
    "dashboard": frozenset(
        {
            "title",
            "description",
            "kibanaSavedObjectMeta",
            "timeRestore",
            "timeFrom",
            "timeTo",
            "refreshInterval",
            "controlGroupInput",
            "panelsJSON",
            "optionsJSON",
            "hits",
            "version",
        }
    ),
    "lens": frozenset({"title", "description", "visualizationType", "state", "uiStateJSON", "visState", "version"}),
    "index-pattern": frozenset(
        {
            "title",
            "name",
            "timeFieldName",
            "fields",
            "fieldFormatMap",
            "fieldAttrs",
            "runtimeFieldMap",
            "sourceFilters",
            "allowHidden",
            "allowNoIndex",
            "type",
            "typeMeta",
        }
    ),
}


def parse_version(value: str) -> tuple[int, int, int]:
    """``"10.5.0"`` -> ``(10, 5, 0)``; raises ValueError for anything that is not ``X.Y.Z``."""
    parts = value.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a X.Y.Z version: {value!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


__all__ = [
    "ALLOWED_ATTRIBUTES",
    "CORE_MIGRATION_VERSION",
    "GENERATED_VERSIONS",
    "KIBANA_VERSION",
    "TYPE_VERSIONS",
    "TypeVersion",
    "parse_version",
]
