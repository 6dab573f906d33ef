#!/usr/bin/env bash
# Local single-node Elasticsearch for development, tests and CI.
#
#   scripts/es.sh fetch    download the minimal distribution (Maven Central integ-test zip) and unpack it
#   scripts/es.sh start    start a node (reuses a healthy one), wait for yellow/green health
#   scripts/es.sh stop     stop the node we started (pidfile), wait until it is gone
#   scripts/es.sh status   print cluster health JSON, or "not running" (exit 3)
#   scripts/es.sh wait     wait for yellow/green health (ES_WAIT_TIMEOUT seconds, default 120)
#
# Environment: ES_VERSION (9.2.8), ES_PORT (9200), ES_HEAP (512m), ES_WAIT_TIMEOUT (120),
#   ES_BASE (root: /var/lib/news-ingest, otherwise <repo>/.cache/elasticsearch), ES_RUN_USER (root: esrunner),
#   ES_JAVA_HOME (autodetected: a JDK >= 21 under /usr/lib/jvm),
#   ES_SECURITY (false; true: security on as in the compose stack, user elastic with password ES_ELASTIC_PASSWORD,
#   plain HTTP on loopback; for `make test-security`; use its own ES_BASE and ES_PORT).
# Elasticsearch refuses to run as root, so as root the node runs as the system user "esrunner", with its home,
# data and logs under /var/lib/news-ingest/es-<version> (a checkout under /root is not traversable by it).
# Only the download cache lives in the repository (.cache/downloads, git-ignored).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ES_VERSION="${ES_VERSION:-9.2.8}"
ES_PORT="${ES_PORT:-9200}"
ES_HEAP="${ES_HEAP:-512m}"
ES_WAIT_TIMEOUT="${ES_WAIT_TIMEOUT:-120}"
ES_ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip"
DOWNLOAD_DIR="${ROOT_DIR}/.cache/downloads"
ZIP_FILE="${DOWNLOAD_DIR}/elasticsearch-${ES_VERSION}.zip"

if [[ ${EUID} -eq 0 ]]; then
    ES_BASE="${ES_BASE:-/var/lib/news-ingest}"
    ES_RUN_USER="${ES_RUN_USER:-esrunner}"
else
    ES_BASE="${ES_BASE:-${ROOT_DIR}/.cache/elasticsearch}"
    ES_RUN_USER="${ES_RUN_USER:-$(id -un)}"
fi
ES_ROOT="${ES_BASE}/es-${ES_VERSION}"
ES_HOME="${ES_ROOT}/home"
ES_DATA="${ES_ROOT}/data"
ES_LOGS="${ES_ROOT}/logs"
ES_TMP="${ES_ROOT}/tmp"
ES_PIDFILE="${ES_ROOT}/es.pid"
ES_URL="http://127.0.0.1:${ES_PORT}"
ES_SECURITY="${ES_SECURITY:-false}"
CURL_AUTH=()
if [[ "${ES_SECURITY}" == "true" ]]; then
    [[ -n "${ES_ELASTIC_PASSWORD:-}" ]] || { echo "[es.sh] ERROR: ES_SECURITY=true needs ES_ELASTIC_PASSWORD" >&2; exit 1; }
    CURL_AUTH=(-u "elastic:${ES_ELASTIC_PASSWORD}")
fi

log() { printf '[es.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

apt_install() {
    [[ ${EUID} -eq 0 ]] || die "need to install $* but not root: install it yourself"
    command -v apt-get >/dev/null || die "need to install $* and apt-get is missing"
    if [[ -z "${_APT_UPDATED:-}" ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

java_major() {  # prints the feature version of the java binary $1 (e.g. 21), or nothing
    "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version =/ {print $2; exit}'
}

find_jdk() {  # prints a JAVA_HOME with Java >= 21, or nothing
    local candidate major
    if [[ -n "${ES_JAVA_HOME:-}" && -x "${ES_JAVA_HOME}/bin/java" ]]; then
        major="$(java_major "${ES_JAVA_HOME}/bin/java")"
        if [[ -n "${major}" && "${major}" -ge 21 ]]; then echo "${ES_JAVA_HOME}"; return; fi
    fi
    # Newest first: temurin-25 before java-17.
    for candidate in $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV) "${ROOT_DIR}/.cache/jdk"; do
        candidate="${candidate%/}"
        [[ -x "${candidate}/bin/java" && ! -L "${candidate}" ]] || continue
        major="$(java_major "${candidate}/bin/java")"
        if [[ -n "${major}" && "${major}" -ge 21 ]]; then echo "${candidate}"; return; fi
    done
}

ensure_jdk() {
    local jdk
    jdk="$(find_jdk)"
    if [[ -z "${jdk}" ]]; then
        # Debian 12 ships OpenJDK 17 only; try the distribution's packages anyway (newer releases have 21).
        if [[ ${EUID} -eq 0 ]] && command -v apt-get >/dev/null; then
            apt_install openjdk-21-jdk-headless 2>/dev/null || apt_install openjdk-25-jdk-headless 2>/dev/null \
                || log "no JDK >= 21 in the apt sources"
            jdk="$(find_jdk)"
        fi
    fi
    [[ -n "${jdk}" ]] || die "Elasticsearch ${ES_VERSION} needs Java >= 21: none found under /usr/lib/jvm; set ES_JAVA_HOME"
    echo "${jdk}"
}

health_json() {  # prints the health JSON when the node answers with yellow/green
    local body
    body="$(curl -fsS --max-time 5 "${CURL_AUTH[@]}" "${ES_URL}/_cluster/health" 2>/dev/null)" || return 1
    [[ "${body}" == *'"status":"green"'* || "${body}" == *'"status":"yellow"'* ]] || return 1
    printf '%s\n' "${body}"
}

node_pid() {  # prints the pid of our node when it is alive
    local pid
    [[ -s "${ES_PIDFILE}" ]] || return 1
    pid="$(cat "${ES_PIDFILE}")"
    [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null || return 1
    echo "${pid}"
}

cmd_fetch() {
    if [[ -x "${ES_HOME}/bin/elasticsearch" ]]; then
        log "Elasticsearch ${ES_VERSION} already unpacked in ${ES_HOME}"
        return 0
    fi
    command -v curl >/dev/null || apt_install curl ca-certificates
    command -v unzip >/dev/null || apt_install unzip
    if [[ ! -s "${ZIP_FILE}" ]]; then
        if ! command -v mvn >/dev/null; then
            apt_install maven
        fi
        mkdir -p "${DOWNLOAD_DIR}"
        log "downloading ${ES_ARTIFACT} with maven"
        mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="${ES_ARTIFACT}" -DoutputDirectory="${DOWNLOAD_DIR}" \
            || die "maven could not fetch ${ES_ARTIFACT}"
    fi
    [[ -s "${ZIP_FILE}" ]] || die "missing ${ZIP_FILE} after download"
    local staging="${ES_ROOT}.unpack.$$"
    rm -rf "${staging}"
    mkdir -p "${staging}"
    unzip -q "${ZIP_FILE}" -d "${staging}"
    mkdir -p "${ES_ROOT}"
    rm -rf "${ES_HOME}"
    mv "${staging}/elasticsearch-${ES_VERSION}" "${ES_HOME}"
    rm -rf "${staging}"
    log "unpacked Elasticsearch ${ES_VERSION} into ${ES_HOME}"
}

ensure_user_and_dirs() {
    mkdir -p "${ES_DATA}" "${ES_LOGS}" "${ES_TMP}"
    if [[ ${EUID} -eq 0 ]]; then
        if ! id -u "${ES_RUN_USER}" >/dev/null 2>&1; then
            log "creating system user ${ES_RUN_USER}"
            useradd --system --home-dir "${ES_BASE}" --no-create-home --shell /usr/sbin/nologin \
                "${ES_RUN_USER}"
        fi
        chmod 755 "${ES_BASE}"
        chown -R "${ES_RUN_USER}:" "${ES_ROOT}"
        # Every directory from / to ES_HOME must be traversable by the node's user.
        runuser -u "${ES_RUN_USER}" -- test -r "${ES_HOME}/bin/elasticsearch" \
            || die "${ES_RUN_USER} cannot read ${ES_HOME}: choose another ES_BASE"
    fi
}

has_setting_module() {  # the integ-test zip lacks ML; only set xpack.ml.enabled where the module exists
    [[ -d "${ES_HOME}/modules/x-pack-ml" ]]
}

cmd_wait() {
    local deadline=$((SECONDS + ES_WAIT_TIMEOUT))
    while (( SECONDS < deadline )); do
        if health_json >/dev/null; then
            log "healthy at ${ES_URL}"
            return 0
        fi
        if [[ -s "${ES_PIDFILE}" ]] && ! node_pid >/dev/null; then
            log "the node exited during start-up"
            break
        fi
        sleep 1
    done
    log "Elasticsearch at ${ES_URL} not healthy after ${ES_WAIT_TIMEOUT}s; log tail:"
    tail -n 60 "${ES_LOGS}"/*.log 2>/dev/null >&2 || log "(no log in ${ES_LOGS})"
    return 1
}

set_bootstrap_password() {  # the elastic user's password of a secured node, from its own keystore
    local -a as_user=()
    [[ ${EUID} -eq 0 ]] && as_user=(runuser -u "${ES_RUN_USER}" --)
    local -a env_vars=("ES_JAVA_HOME=$1" "ES_PATH_CONF=${ES_HOME}/config" "PATH=/usr/bin:/bin" "HOME=${ES_ROOT}")
    if [[ ! -f "${ES_HOME}/config/elasticsearch.keystore" ]]; then
        "${as_user[@]}" env -i "${env_vars[@]}" "${ES_HOME}/bin/elasticsearch-keystore" create >/dev/null
    fi
    printf '%s' "${ES_ELASTIC_PASSWORD}" | "${as_user[@]}" env -i "${env_vars[@]}" \
        "${ES_HOME}/bin/elasticsearch-keystore" add -x -f bootstrap.password >/dev/null
}

cmd_start() {
    if health_json >/dev/null; then
        log "reusing the healthy node at ${ES_URL}"
        return 0
    fi
    if pid="$(node_pid)"; then
        log "node ${pid} is starting; waiting"
        cmd_wait
        return
    fi
    if curl -sS --max-time 3 -o /dev/null "${CURL_AUTH[@]}" "${ES_URL}" 2>/dev/null; then
        die "something unhealthy already answers on ${ES_URL}; stop it first (scripts/es.sh stop) or set ES_PORT"
    fi
    cmd_fetch
    local jdk
    jdk="$(ensure_jdk)"
    ensure_user_and_dirs
    rm -f "${ES_PIDFILE}"
    local -a settings=(
        "-Ediscovery.type=single-node"
        "-Enetwork.host=127.0.0.1"
        "-Ehttp.port=${ES_PORT}"
        "-Ecluster.routing.allocation.disk.threshold_enabled=false"
        "-Ecluster.name=news-ingest-local"
        "-Enode.name=news-ingest-local"
        "-Epath.data=${ES_DATA}"
        "-Epath.logs=${ES_LOGS}"
        "-Eaction.destructive_requires_name=true"
    )
    has_setting_module && settings+=("-Expack.ml.enabled=false")
    if [[ "${ES_SECURITY}" == "true" ]]; then
        settings+=("-Expack.security.enabled=true" "-Expack.security.http.ssl.enabled=false"
            "-Expack.security.transport.ssl.enabled=false" "-Etransport.port=$((ES_PORT + 100))")
        set_bootstrap_password "${jdk}"
    else
        settings+=("-Expack.security.enabled=false")
    fi
    log "starting Elasticsearch ${ES_VERSION} on ${ES_URL} (java: ${jdk}, user: ${ES_RUN_USER}, heap: ${ES_HEAP})"
    local started=${SECONDS}
    local -a env_vars=(
        "ES_JAVA_HOME=${jdk}"
        "ES_JAVA_OPTS=-Xms${ES_HEAP} -Xmx${ES_HEAP}"
        "ES_TMPDIR=${ES_TMP}"
        "ES_PATH_CONF=${ES_HOME}/config"
        "PATH=/usr/bin:/bin:/usr/sbin:/sbin"
        "HOME=${ES_ROOT}"
    )
    # The launcher daemonises itself (-d) once the node has bootstrapped, writing the pidfile.
    if [[ ${EUID} -eq 0 ]]; then
        (cd "${ES_ROOT}" && runuser -u "${ES_RUN_USER}" -- env -i "${env_vars[@]}" \
            "${ES_HOME}/bin/elasticsearch" -d -p "${ES_PIDFILE}" "${settings[@]}" \
            >"${ES_LOGS}/launcher.out" 2>&1) || {
            log "launcher failed"; cat "${ES_LOGS}/launcher.out" >&2; cmd_wait || true; exit 1; }
    else
        (cd "${ES_ROOT}" && env -i "${env_vars[@]}" \
            "${ES_HOME}/bin/elasticsearch" -d -p "${ES_PIDFILE}" "${settings[@]}" \
            >"${ES_LOGS}/launcher.out" 2>&1) || {
            log "launcher failed"; cat "${ES_LOGS}/launcher.out" >&2; cmd_wait || true; exit 1; }
    fi
    cmd_wait || exit 1
    log "started in $((SECONDS - started))s (pid $(cat "${ES_PIDFILE}"))"
}

cmd_stop() {
    local pid
    if ! pid="$(node_pid)"; then
        log "not running (no live pid in ${ES_PIDFILE})"
        rm -f "${ES_PIDFILE}"
        return 0
    fi
    log "stopping node ${pid}"
    kill -TERM "${pid}"
    local deadline=$((SECONDS + 60))
    while kill -0 "${pid}" 2>/dev/null; do
        if (( SECONDS >= deadline )); then
            log "node ${pid} still alive after 60s; sending SIGKILL"
            kill -KILL "${pid}" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.5
    done
    rm -f "${ES_PIDFILE}"
    log "stopped"
}

cmd_status() {
    if health_json; then
        return 0
    fi
    local body
    if body="$(curl -sS --max-time 5 "${CURL_AUTH[@]}" "${ES_URL}/_cluster/health" 2>/dev/null)" && [[ -n "${body}" ]]; then
        printf '%s\n' "${body}"  # answering, but red (or an error)
        return 1
    fi
    echo "not running"
    return 3
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    wait) cmd_wait ;;
    *) echo "usage: $0 {fetch|start|stop|status|wait}" >&2; exit 2 ;;
esac
