#!/usr/bin/env bash
# Start Kafka and InfluxDB on 127.0.0.1 (idempotent: running, healthy servers
# are left alone) and write $VPP_SERVICES_DIR/env for tests and tools:
#   VPP_KAFKA_BROKERS, VPP_INFLUX_URL, VPP_INFLUX_TOKEN, VPP_INFLUX_ORG,
#   VPP_INFLUX_BUCKET, VPP_INFLUX_DB
# A cold cache fetches the Kafka jars and builds influxd; both run at once.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

t0=$SECONDS
bash "$SERVICES_SRC/kafka.sh" start &
kafka_job=$!
bash "$SERVICES_SRC/influx.sh" start &
influx_job=$!
rc=0
wait "$kafka_job" || rc=1
wait "$influx_job" || rc=1
((rc == 0)) || die "a server did not start (see above); scripts/services/down.sh stops the other"
write_env
log "up in $((SECONDS - t0))s; environment in $STATE_DIR/env:"
cat "$STATE_DIR/env" >&2
