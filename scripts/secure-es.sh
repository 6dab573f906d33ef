#!/usr/bin/env bash
# A secured single-node Elasticsearch for `make test-security` (its own ES_BASE and port, never the shared node):
# security on as in the compose stack, the project's roles from `python -m ingest.access roles-file` in the
# file realm's roles.yml and its users (news_pipeline, analyst) in the file realm: the minimal test
# distribution cannot create the native-realm .security index (it lacks analysis-common).
#
#   scripts/secure-es.sh start | stop | env      (env prints the NEWS_SECURE_* variables the tests read)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ES_SECURITY=true
export ES_PORT="${SECURE_ES_PORT:-9201}"
export ES_ELASTIC_PASSWORD="${SECURE_ES_ELASTIC_PASSWORD:-secure0elastic0test}"
export ES_HEAP="${ES_HEAP:-512m}"
export ES_WAIT_TIMEOUT="${ES_WAIT_TIMEOUT:-300}"
if [[ ${EUID} -eq 0 ]]; then
    export ES_BASE="${SECURE_ES_BASE:-/var/lib/news-ingest-secure}"
else
    export ES_BASE="${SECURE_ES_BASE:-${PWD}/.cache/elasticsearch-secure}"
fi
PIPELINE_PASSWORD="${SECURE_ES_PIPELINE_PASSWORD:-pipeline0test0pw}"
ANALYST_PASSWORD="${SECURE_ES_ANALYST_PASSWORD:-analyst0test0pw}"
ES_HOME="${ES_BASE}/es-${ES_VERSION:-9.2.8}/home"

as_node_user() {
    if [[ ${EUID} -eq 0 ]]; then runuser -u "${ES_RUN_USER:-esrunner}" -- "$@"; else "$@"; fi
}

configure() {
    scripts/es.sh fetch
    local jdk
    jdk="$(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV | head -1)"
    .venv/bin/python -m ingest.access roles-file >"${ES_HOME}/config/roles.yml"
    local user password
    for user in news_pipeline analyst; do
        [[ ${user} == news_pipeline ]] && password="${PIPELINE_PASSWORD}" || password="${ANALYST_PASSWORD}"
        local role
        [[ ${user} == news_pipeline ]] && role=news_writer || role=news_analyst
        env -i "ES_JAVA_HOME=${ES_JAVA_HOME:-${jdk%/}}" "ES_PATH_CONF=${ES_HOME}/config" PATH=/usr/bin:/bin \
            "${ES_HOME}/bin/elasticsearch-users" userdel "${user}" >/dev/null 2>&1 || true
        env -i "ES_JAVA_HOME=${ES_JAVA_HOME:-${jdk%/}}" "ES_PATH_CONF=${ES_HOME}/config" PATH=/usr/bin:/bin \
            "${ES_HOME}/bin/elasticsearch-users" useradd "${user}" -p "${password}" -r "${role}" >/dev/null
    done
}

case "${1:-}" in
    start)
        configure
        scripts/es.sh start
        [[ ${EUID} -eq 0 ]] && chown -R "${ES_RUN_USER:-esrunner}:" "${ES_HOME}/config"
        ;;
    stop) scripts/es.sh stop ;;
    env)
        echo "NEWS_SECURE_ES_URL=http://127.0.0.1:${ES_PORT}"
        echo "NEWS_SECURE_ES_PASSWORD=${ES_ELASTIC_PASSWORD}"
        echo "NEWS_SECURE_PIPELINE_PASSWORD=${PIPELINE_PASSWORD}"
        echo "NEWS_SECURE_ANALYST_PASSWORD=${ANALYST_PASSWORD}"
        ;;
    *) echo "usage: $0 {start|stop|env}" >&2; exit 2 ;;
esac
