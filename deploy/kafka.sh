#!/usr/bin/env bash
# Apache Kafka 4 (org.apache.kafka:kafka_2.13 from Maven Central) for the scale profile: one
# KRaft node that is broker and controller in one JVM, fed by the event relay (kafka/).
# Its jars, configuration, storage, pid and log live under .data/kafka of the checkout
# (git-ignored); it listens on 127.0.0.1 only: PLAINTEXT on RESERVO_KAFKA_PORT (19092), the
# controller on RESERVO_KAFKA_CONTROLLER_PORT (19093).
#
#   deploy/kafka.sh up       fetch the jars once (mvn), format the storage once, start when not
#                            running, wait until the broker is ready (idempotent)
#   deploy/kafka.sh down     stop the broker this script started (SIGTERM: a clean shutdown)
#   deploy/kafka.sh status   say whether it runs (exit status 3 when it does not)
#   deploy/kafka.sh env      print RESERVO_KAFKA_BROKERS
#
# The data survives down/up. The cluster id is made once and kept in .data/kafka/cluster-id;
# remove .data/kafka/data to start empty. JVM heap: RESERVO_KAFKA_HEAP (default -Xms256m -Xmx512m).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
DIR="$DATA/kafka"
PORT=${RESERVO_KAFKA_PORT:-19092}
CONTROLLER_PORT=${RESERVO_KAFKA_CONTROLLER_PORT:-19093}
HEAP=${RESERVO_KAFKA_HEAP:--Xms256m -Xmx512m}
SRC="$ROOT/deploy/kafka"
LIB="$DIR/lib"
PIDFILE="$DIR/kafka.pid"
NAME=kafka
MATCH="kafka\.Kafka"
# shellcheck source=lib.sh
. "$ROOT/deploy/lib.sh"
LOG="$DIR/kafka.log"

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; else command -v java; fi
}

# fetch copies the broker's jars into $LIB once, again only when the pom changes.
fetch() {
  local stamp
  stamp=$(sha256sum "$SRC/pom.xml" | cut -d' ' -f1)
  if [ -d "$LIB" ] && [ "$(cat "$LIB.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  command -v mvn >/dev/null || die "mvn is needed to fetch Kafka from Maven Central"
  log "fetching kafka_2.13 and its dependencies with mvn into $LIB"
  rm -rf "$LIB.tmp"
  mvn -B -f "$SRC/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIB.tmp" >"$DIR/mvn.log" 2>&1 ||
    { tail -n 30 "$DIR/mvn.log" >&2; die "mvn dependency:copy-dependencies failed (log $DIR/mvn.log)"; }
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
  echo "$stamp" >"$LIB.stamp"
}

# configure writes server.properties from the template (every up: ports may change).
configure() {
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA@|$DIR|g" \
    "$SRC/server.properties" >"$DIR/server.properties"
}

# format prepares the storage once, with the cluster id kept beside it.
format() {
  [ -s "$DIR/data/meta.properties" ] && return
  local java; java=$(java_bin)
  if [ ! -s "$DIR/cluster-id" ]; then
    "$java" -cp "$LIB/*" -Dlog4j2.configurationFile="$SRC/log4j2.xml" kafka.tools.StorageTool random-uuid \
      2>/dev/null | tail -n 1 >"$DIR/cluster-id.tmp"
    [ -s "$DIR/cluster-id.tmp" ] || die "could not make a cluster id"
    mv "$DIR/cluster-id.tmp" "$DIR/cluster-id"
  fi
  log "formatting the storage in $DIR/data (cluster $(cat "$DIR/cluster-id"))"
  "$java" -cp "$LIB/*" -Dlog4j2.configurationFile="$SRC/log4j2.xml" kafka.tools.StorageTool format \
    --cluster-id "$(cat "$DIR/cluster-id")" --config "$DIR/server.properties" --ignore-formatted \
    >"$DIR/format.log" 2>&1 || { cat "$DIR/format.log" >&2; die "storage format failed"; }
}

up() {
  local pid start
  if pid=$(running_pid) && port_open "$PORT"; then
    log "already running (pid $pid) on 127.0.0.1:$PORT"
    return
  fi
  port_open "$PORT" && die "127.0.0.1:$PORT is taken by a process this script did not start"
  start=$(date +%s%N)
  local java; java=$(java_bin)
  [ -n "$java" ] || die "java (17 or newer) is needed"
  "$java" -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' || die "Kafka 4 needs Java 17 or newer: $("$java" -version 2>&1 | head -n 1)"
  mkdir -p "$DIR"
  fetch
  configure
  format
  [ -f "$LOG" ] && mv "$LOG" "$LOG.1"
  rm -f "$PIDFILE"
  log "starting on 127.0.0.1:$PORT (controller 127.0.0.1:$CONTROLLER_PORT), log $LOG"
  # setsid may fork: the shell it runs writes its own pid, then becomes the JVM (exec), in
  # $DIR so that a crash dump (hs_err) lands there.
  # shellcheck disable=SC2086 # HEAP is a list of JVM options
  setsid sh -c 'cd "$1" && echo $$ >"$2" && shift 2 && exec "$@"' _ "$DIR" "$PIDFILE" \
    "$java" $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$SRC/log4j2.xml" -Dkafka.logs.dir="$DIR" \
    -cp "$LIB/*" kafka.Kafka "$DIR/server.properties" \
    >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [ -s "$PIDFILE" ] && break; sleep 0.1; done
  pid=$(cat "$PIDFILE")
  # Ready when the broker is unfenced and serving ("Kafka Server started") and the port answers.
  for _ in $(seq 1 1200); do
    if grep -q 'Kafka Server started' "$LOG" && port_open "$PORT"; then
      log "up in $((($(date +%s%N) - start) / 1000000)) ms: RESERVO_KAFKA_BROKERS=127.0.0.1:$PORT"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 30 "$LOG" >&2 || true
  die "did not become ready on 127.0.0.1:$PORT"
}

down() {
  # SIGTERM runs the broker's controlled shutdown (logs flushed, clean shutdown marker).
  stop_started 60
}

status() {
  local pid=""
  pid=$(running_pid) || pid=""
  if port_open "$PORT"; then
    echo "kafka up (127.0.0.1:$PORT${pid:+, pid $pid})"
  else
    echo "kafka down ($PORT)"
    return 3
  fi
}

case "${1:-up}" in
up) up ;;
down) down ;;
status) status ;;
env) echo "RESERVO_KAFKA_BROKERS=${RESERVO_KAFKA_BROKERS:-127.0.0.1:$PORT}" ;;
*) die "usage: $0 up|down|status|env" ;;
esac
