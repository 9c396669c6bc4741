#!/usr/bin/env bash
# Stop Kafka and InfluxDB by their PID files, then remove the state directory
# (configs, logs, data). Caches under $VPP_CACHE_DIR are kept. Set
# VPP_SERVICES_KEEP=1 to keep the state directory (logs) for a post-mortem.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rc=0
bash "$SERVICES_SRC/kafka.sh" stop || rc=1
bash "$SERVICES_SRC/influx.sh" stop || rc=1
if [[ "${VPP_SERVICES_KEEP:-0}" != 1 && -d "$STATE_DIR" ]]; then
    # Remove only a directory this project laid out, never an arbitrary path.
    if [[ -f "$STATE_DIR/env" || -d "$STATE_DIR/kafka" || -d "$STATE_DIR/influx" ]]; then
        rm -rf -- "$STATE_DIR"
        log "removed $STATE_DIR"
    else
        log "left $STATE_DIR alone: it does not look like a services state dir"
    fi
fi
exit "$rc"
