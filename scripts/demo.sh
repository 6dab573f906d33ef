#!/usr/bin/env bash
# End-to-end demo on a fresh machine: the bundled sample corpus served on 127.0.0.1, one real Airflow run of each
# DAG in the order the scheduler chains them (news_poll, news_process, news_stories; `airflow dags test`, SQLite
# metadata DB), indexing into the local Elasticsearch, then a human-readable summary. Assumes `make venv` and `scripts/es.sh start` (or just run `make demo`).
#
# Everything it writes goes under var/ (git-ignored): var/airflow (AIRFLOW_HOME), var/state.sqlite,
# var/archive, var/sample-feeds.toml, var/demo-server.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="${PWD}"
PY="${ROOT}/.venv/bin/python"
AIRFLOW="${ROOT}/.venv/bin/airflow"
ES_PORT="${ES_PORT:-9200}"
# A fixed port keeps the sample articles' URLs, and so their document ids, the same from one demo to the next:
# a second `make demo` then updates the same documents instead of indexing copies under new URLs.
DEMO_PORT="${DEMO_PORT:-18765}"
T0=${SECONDS}

step() { printf '==> [+%ss] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }

[[ -x "${PY}" && -x "${AIRFLOW}" ]] || die "no .venv: run 'make venv' first"
curl -fsS --max-time 5 "http://127.0.0.1:${ES_PORT}/_cluster/health" >/dev/null \
    || die "Elasticsearch is not answering on 127.0.0.1:${ES_PORT}: run 'scripts/es.sh start' first"

mkdir -p var/airflow var/archive
export AIRFLOW_HOME="${ROOT}/var/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="${ROOT}/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="${ROOT}/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///${AIRFLOW_HOME}/airflow.db"
export AIRFLOW__CORE__PARALLELISM=4
# Airflow 3 reads JSON connections from AIRFLOW_CONN_<CONN_ID> (conn_type, host, port, schema, login, ...).
export AIRFLOW_CONN_ELASTICSEARCH_DEFAULT="{\"conn_type\": \"elasticsearch\", \"host\": \"127.0.0.1\", \"port\": ${ES_PORT}, \"schema\": \"http\"}"
export NEWS_FEEDS_FEEDS_FILE="${ROOT}/var/sample-feeds.toml"
export NEWS_FETCH_ALLOW_HOSTS="127.0.0.1"
export NEWS_STATE_PATH="${ROOT}/var/state.sqlite"
export NEWS_ARCHIVE_ROOT="${ROOT}/var/archive"
export NEWS_INDEX_ES_URL="http://127.0.0.1:${ES_PORT}"

server_pid=""
stop_server() {
    if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
        kill "${server_pid}" 2>/dev/null || true
        wait "${server_pid}" 2>/dev/null || true
    fi
    server_pid=""
}
trap stop_server EXIT

step "airflow db migrate (AIRFLOW_HOME=var/airflow, SQLite)"
"${AIRFLOW}" db migrate >var/airflow/db-migrate.log 2>&1 || { tail -n 40 var/airflow/db-migrate.log; die "db migrate failed"; }

step "index templates and aliases (ingest.cli setup-index)"
"${PY}" -m ingest.cli setup-index

step "serving the sample corpus (seeds/sample) on 127.0.0.1"
rm -f "${NEWS_FEEDS_FEEDS_FILE}"
"${PY}" -m evaluation.devserver --port "${DEMO_PORT}" --feeds-out "${NEWS_FEEDS_FEEDS_FILE}" >var/demo-server.log 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    [[ -s "${NEWS_FEEDS_FEEDS_FILE}" ]] && break
    kill -0 "${server_pid}" 2>/dev/null || { cat var/demo-server.log >&2; die "the sample server exited"; }
    sleep 0.1
done
[[ -s "${NEWS_FEEDS_FEEDS_FILE}" ]] || { cat var/demo-server.log >&2; die "the sample server wrote no feeds file in 30s"; }
step "feeds file: var/sample-feeds.toml ($(grep -c 'url' "${NEWS_FEEDS_FEEDS_FILE}" || true) url lines)"

# The scheduler chains the three DAGs on their asset events (news_captures, news_articles); `airflow dags test`
# runs one DAG without a scheduler, so the demo runs them in that order itself.
export NEWS_AIRFLOW_DEADLINES=0  # Airflow 3.3.2's `dags test` trips over DeadlineAlerts (plugins/news_airflow/dagkit.py)
dag_rc=0
for dag_id in news_poll news_process news_stories; do
    step "airflow dags test ${dag_id}"
    if ! "${AIRFLOW}" dags test "${dag_id}" >"var/airflow/${dag_id}.log" 2>&1; then
        dag_rc=1
        tail -n 60 "var/airflow/${dag_id}.log" >&2
        step "${dag_id} failed; full log: var/airflow/${dag_id}.log"
        break
    fi
    grep -E "state=|Dagrun .* (success|failed)" "var/airflow/${dag_id}.log" | tail -n 1 || true
done
stop_server
[[ ${dag_rc} -eq 0 ]] && step "DAG runs finished; logs: var/airflow/news_*.log"

step "summary"
"${PY}" -m ingest.cli summary
step "wall time: $((SECONDS - T0))s"
exit "${dag_rc}"
