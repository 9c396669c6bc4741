#!/usr/bin/env bash
# Apache Kafka 4.x, one combined broker+controller node in KRaft mode, on
# 127.0.0.1 only. Jars come from Maven Central through kafka/pom.xml and are
# cached under $VPP_CACHE_DIR/kafka-<version>/libs.
#
# Usage: kafka.sh {start|stop|restart|status|fetch}
#   start    fetch jars if needed, format storage on first start, launch the
#            broker, wait until it answers metadata requests (idempotent)
#   stop     SIGTERM by PID file (data kept, so start resumes the same log)
#   status   exit 0 when running and answering, 1 otherwise
#   fetch    only download the jars
# Environment: see common.sh; also VPP_KAFKA_VERSION (default 4.1.1),
# VPP_KAFKA_PARTITIONS (default 4), VPP_KAFKA_READY_TIMEOUT_S (default 90),
# VPP_KAFKA_HEAP (default 512m).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_VERSION="${VPP_KAFKA_VERSION:-4.1.1}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
DIR="$STATE_DIR/kafka"
PIDF="$DIR/kafka.pid"
LOGF="$DIR/kafka.log"
CONF="$DIR/server.properties"
DATA="$DIR/data"
READY_TIMEOUT_S="${VPP_KAFKA_READY_TIMEOUT_S:-90}"
PID_PATTERN="kafka.Kafka $CONF"

fetch() {
    # A marker written after a complete copy: an interrupted download is redone.
    if [[ -f "$KAFKA_HOME/.complete" ]] && compgen -G "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    command -v java >/dev/null || die "java not found (Kafka 4 needs Java 17+)"
    log "kafka: fetching $KAFKA_VERSION jars from Maven Central into $LIBS"
    rm -rf "$LIBS" "$KAFKA_HOME/.complete"
    mkdir -p "$LIBS"
    # A private local repository keeps the whole download under the cache dir.
    mvn -B -q -Dstyle.color=never -f "$SERVICES_SRC/kafka/pom.xml" \
        -Dmaven.repo.local="$CACHE_DIR/m2" \
        -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$LIBS" >&2 ||
        die "kafka: maven fetch failed"
    touch "$KAFKA_HOME/.complete"
}

write_config() {
    mkdir -p "$DIR" "$DATA"
    cat >"$CONF" <<EOF
# Written by scripts/services/kafka.sh; regenerated on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=${VPP_KAFKA_PARTITIONS:-4}
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
# One node: every internal topic has one replica. Fewer offsets partitions make
# the first consumer group come up in a second instead of several.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
EOF
    cat >"$DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
EOF
}

java_cmd() {
    local heap="${VPP_KAFKA_HEAP:-512m}"
    JAVA=(java -Xms256m "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$DIR/log4j2.properties"
        "-Dkafka.logs.dir=$DIR" -cp "$LIBS/*")
}

format_storage() {
    [[ -f "$DATA/meta.properties" ]] && return 0
    local cluster_id
    # 16 random bytes, URL-safe base64 without padding: Kafka's cluster id form.
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    log "kafka: formatting storage in $DATA (cluster $cluster_id)"
    "${JAVA[@]}" kafka.tools.StorageTool format --standalone \
        -t "$cluster_id" -c "$CONF" >>"$LOGF" 2>&1 ||
        {
            tail -n 30 "$LOGF" >&2
            die "kafka: storage format failed"
        }
}

# ready: the broker answers a metadata request listing itself.
ready() {
    pid_alive "$PIDF" "$PID_PATTERN" || return 1
    port_open "$KAFKA_PORT" || return 1
    local py
    if py="$(python_with confluent_kafka)"; then
        "$py" - "$HOST:$KAFKA_PORT" <<'EOF' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=3)
sys.exit(0 if md.brokers else 1)
EOF
    else
        grep -q "Kafka Server started" "$LOGF"
    fi
}

start() {
    mkdir -p "$DIR"
    if ready; then
        log "kafka: already running (pid $(cat "$PIDF")) on $HOST:$KAFKA_PORT"
        write_env
        return 0
    fi
    if pid_alive "$PIDF" "$PID_PATTERN"; then
        # Alive but not answering: a start still in progress elsewhere.
        log "kafka: pid $(cat "$PIDF") alive but not ready yet; waiting"
    else
        rm -f "$PIDF"
        for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
            port_open "$p" && die "kafka: port $HOST:$p is taken by another process"
        done
        fetch
        write_config
        java_cmd
        : >"$LOGF"
        format_storage
        log "kafka: starting $KAFKA_VERSION on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
        # setsid: the broker outlives the shell (and pytest) that started it.
        setsid nohup "${JAVA[@]}" kafka.Kafka "$CONF" >>"$LOGF" 2>&1 </dev/null &
        echo $! >"$PIDF"
    fi
    local t0=$SECONDS
    until ready; do
        # Liveness only: until the child has exec'd, its command line is
        # still this shell's, so the pattern would call a live start dead.
        pid_alive "$PIDF" || fail_start kafka "$PIDF" "$LOGF"
        ((SECONDS - t0 < READY_TIMEOUT_S)) || fail_start kafka "$PIDF" "$LOGF"
        sleep 0.5
    done
    log "kafka: ready in $((SECONDS - t0))s (pid $(cat "$PIDF"))"
    write_env
}

case "${1:-}" in
start) start ;;
stop) stop_pid kafka "$PIDF" 30 "$PID_PATTERN" ;;
restart)
    stop_pid kafka "$PIDF" 30 "$PID_PATTERN"
    start
    ;;
status)
    if ready; then
        echo "kafka: running (pid $(cat "$PIDF")) on $HOST:$KAFKA_PORT"
    else
        echo "kafka: not running"
        exit 1
    fi
    ;;
fetch) fetch ;;
*)
    echo "usage: $0 {start|stop|restart|status|fetch}" >&2
    exit 2
    ;;
esac
