# Shared helpers for the real-server scripts (sourced, not run).
#
# Everything a running server owns lives under one state directory so that
# tests find it and down.sh can remove it; everything slow to rebuild (jars,
# the influxd binary, Go and Maven caches) lives under the cache directory and
# survives down.sh.
#
# Environment (all optional):
#   VPP_SERVICES_DIR   state dir (pid files, logs, configs, data, env file)
#   VPP_CACHE_DIR      build/download cache (default ~/.cache/vpp)
#   VPP_KAFKA_PORT     broker port (default 19092)
#   VPP_KAFKA_CONTROLLER_PORT  KRaft controller port (default 19093)
#   VPP_INFLUX_PORT    InfluxDB HTTP port (default 18086)
#   VPP_INFLUX_RPC_PORT  InfluxDB backup/RPC port (default 18088)
#   VPP_INFLUX_DB      database created at start (default vpp)
#   VPP_INFLUX_FLUX    1 (default) enables Flux on /api/v2/query, 0 disables it

set -euo pipefail

SERVICES_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${VPP_SERVICES_DIR:-/tmp/vpp-services}"
CACHE_DIR="${VPP_CACHE_DIR:-$HOME/.cache/vpp}"
HOST=127.0.0.1

KAFKA_PORT="${VPP_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${VPP_KAFKA_CONTROLLER_PORT:-19093}"
INFLUX_PORT="${VPP_INFLUX_PORT:-18086}"
INFLUX_RPC_PORT="${VPP_INFLUX_RPC_PORT:-18088}"
INFLUX_DB="${VPP_INFLUX_DB:-vpp}"
INFLUX_FLUX="${VPP_INFLUX_FLUX:-1}"
# Auth is off on the test server; the token keeps the user:password shape that
# InfluxDB 1.8's v2-compatible API expects, so clients work unchanged if on.
INFLUX_TOKEN="${VPP_INFLUX_TOKEN:-vpp:vpp}"

log() { printf '[services] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# pid_alive FILE [PATTERN]: true when FILE names a live process whose command
# line contains PATTERN (guards against a recycled PID after a reboot).
pid_alive() {
    local f="$1" pat="${2:-}" pid
    [[ -s "$f" ]] || return 1
    pid="$(cat "$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ -z "$pat" ]] && return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pat"
}

# port_open PORT: true when something accepts TCP on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# stop_pid NAME FILE [GRACE_S] [PATTERN]: SIGTERM the process in FILE, SIGKILL
# after the grace period, then remove FILE. Only ever signals the recorded PID.
stop_pid() {
    local name="$1" f="$2" grace="${3:-30}" pat="${4:-}" pid i
    if ! pid_alive "$f" "$pat"; then
        rm -f "$f"
        log "$name: not running"
        return 0
    fi
    pid="$(cat "$f")"
    log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: still alive after ${grace}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$f"
}

# fail_start NAME PIDFILE LOG: print the log tail, stop the half-started
# process and exit non-zero, so a broken start is loud in CI output.
fail_start() {
    local name="$1" f="$2" logf="$3"
    log "$name: not ready; last lines of $logf:"
    tail -n 60 "$logf" >&2 || true
    stop_pid "$name" "$f" 5 || true
    exit 1
}

# write_env: the file tests and tools source to find the servers.
write_env() {
    mkdir -p "$STATE_DIR"
    local tmp="$STATE_DIR/env.tmp.$$"
    cat >"$tmp" <<EOF
VPP_KAFKA_BROKERS=$HOST:$KAFKA_PORT
VPP_INFLUX_URL=http://$HOST:$INFLUX_PORT
VPP_INFLUX_TOKEN=$INFLUX_TOKEN
VPP_INFLUX_ORG=-
VPP_INFLUX_BUCKET=$INFLUX_DB/autogen
VPP_INFLUX_DB=$INFLUX_DB
VPP_INFLUX_FLUX=$INFLUX_FLUX
EOF
    mv "$tmp" "$STATE_DIR/env"
}

# python_with MODULE: print a Python interpreter that can import MODULE.
python_with() {
    local py
    for py in "${VPP_PYTHON:-}" "$SERVICES_SRC/../../.venv/bin/python" python3; do
        [[ -n "$py" ]] || continue
        if "$py" -c "import $1" 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    return 1
}
