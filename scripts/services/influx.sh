#!/usr/bin/env bash
# InfluxDB 1.8.10 built from source with the local Go toolchain through the
# wrapper module in influxd/ (go.mod + go.sum pin every dependency), bound to
# 127.0.0.1 only. 1.8 serves the v2-compatible /api/v2/write, /api/v2/query
# (Flux, enabled here) and /health that the influxdb-client library uses.
#
# Usage: influx.sh {start|stop|restart|status|build}
#   start    build influxd if needed, launch it, wait for /health, create the
#            database (idempotent)
#   stop     SIGTERM by PID file (data kept, so start resumes it)
#   status   exit 0 when running and healthy, 1 otherwise
#   build    only build the binary
# Environment: see common.sh; also VPP_INFLUX_READY_TIMEOUT_S (default 30) and
# VPP_INFLUX_FLUX (default 1; 0 turns Flux off: start-up drops from ~2.6 s to
# ~0.1 s, /api/v2/query then answers an error, InfluxQL /query still works).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

INFLUX_VERSION=1.8.10
BIN_DIR="$CACHE_DIR/influxd-$INFLUX_VERSION"
BIN="$BIN_DIR/influxd"
DIR="$STATE_DIR/influx"
PIDF="$DIR/influxd.pid"
LOGF="$DIR/influxd.log"
CONF="$DIR/influxdb.conf"
URL="http://$HOST:$INFLUX_PORT"
READY_TIMEOUT_S="${VPP_INFLUX_READY_TIMEOUT_S:-30}"
PID_PATTERN="$BIN"

build() {
    [[ -x "$BIN" ]] && return 0
    command -v go >/dev/null || die "go not found (InfluxDB is built from source)"
    log "influx: building influxd $INFLUX_VERSION with $(go version | cut -d' ' -f3) (a minute or more on a cold cache)"
    mkdir -p "$BIN_DIR"
    (
        cd "$SERVICES_SRC/influxd"
        # Module and build caches under the cache dir; -mod=readonly makes the
        # committed go.sum the only source of dependency versions.
        export GOPATH="$CACHE_DIR/go" GOMODCACHE="$CACHE_DIR/go/mod" \
            GOCACHE="$CACHE_DIR/go/build" GOTOOLCHAIN=local \
            GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
        go build -trimpath -o "$BIN.tmp" \
            -ldflags "-s -w -X main.version=$INFLUX_VERSION -X main.branch=1.8" \
            github.com/influxdata/influxdb/cmd/influxd
        # The binary is what is cached; its ~350 MB of build cache is not needed.
        go clean -cache
    ) >&2 || die "influx: go build failed"
    mv "$BIN.tmp" "$BIN"
}

write_config() {
    mkdir -p "$DIR/meta" "$DIR/data" "$DIR/wal"
    cat >"$CONF" <<EOF
# Written by scripts/services/influx.sh; regenerated on every start.
reporting-disabled = true
bind-address = "$HOST:$INFLUX_RPC_PORT"

[meta]
  dir = "$DIR/meta"

[data]
  dir = "$DIR/data"
  wal-dir = "$DIR/wal"
  query-log-enabled = false
  # Tests write then read at once; no WAL fsync delay.
  wal-fsync-delay = "0s"

[monitor]
  # No _internal database: nothing but the tests' own writes.
  store-enabled = false

[http]
  enabled = true
  bind-address = "$HOST:$INFLUX_PORT"
  auth-enabled = false
  log-enabled = false
  flux-enabled = $([[ "$INFLUX_FLUX" == 0 ]] && echo false || echo true)
  max-body-size = 0

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
EOF
}

ready() {
    pid_alive "$PIDF" "$PID_PATTERN" || return 1
    curl -fsS -o /dev/null --max-time 2 "$URL/health" 2>/dev/null
}

create_db() {
    curl -fsS -o /dev/null --max-time 10 -XPOST "$URL/query" \
        --data-urlencode "q=CREATE DATABASE \"$INFLUX_DB\"" ||
        die "influx: CREATE DATABASE $INFLUX_DB failed"
}

start() {
    mkdir -p "$DIR"
    if ready; then
        log "influx: already running (pid $(cat "$PIDF")) on $URL"
        create_db
        write_env
        return 0
    fi
    if pid_alive "$PIDF" "$PID_PATTERN"; then
        log "influx: pid $(cat "$PIDF") alive but not healthy yet; waiting"
    else
        rm -f "$PIDF"
        for p in "$INFLUX_PORT" "$INFLUX_RPC_PORT"; do
            port_open "$p" && die "influx: port $HOST:$p is taken by another process"
        done
        build
        write_config
        log "influx: starting $INFLUX_VERSION on $URL"
        # setsid: the server outlives the shell (and pytest) that started it.
        setsid nohup "$BIN" run -config "$CONF" >>"$LOGF" 2>&1 </dev/null &
        echo $! >"$PIDF"
    fi
    local t0=$SECONDS
    until ready; do
        # Liveness only: until the child has exec'd, its command line is
        # still this shell's, so the pattern would call a live start dead.
        pid_alive "$PIDF" || fail_start influx "$PIDF" "$LOGF"
        ((SECONDS - t0 < READY_TIMEOUT_S)) || fail_start influx "$PIDF" "$LOGF"
        sleep 0.2
    done
    create_db
    log "influx: ready in $((SECONDS - t0))s (pid $(cat "$PIDF")), database $INFLUX_DB"
    write_env
}

case "${1:-}" in
start) start ;;
stop) stop_pid influx "$PIDF" 15 "$PID_PATTERN" ;;
restart)
    stop_pid influx "$PIDF" 15 "$PID_PATTERN"
    start
    ;;
status)
    if ready; then
        echo "influx: running (pid $(cat "$PIDF")) on $URL"
    else
        echo "influx: not running"
        exit 1
    fi
    ;;
build) build ;;
*)
    echo "usage: $0 {start|stop|restart|status|build}" >&2
    exit 2
    ;;
esac
