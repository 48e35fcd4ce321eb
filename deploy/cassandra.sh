#!/usr/bin/env bash
# Apache Cassandra 5.0 for the booking archive of the scale profile (the cassandra/ adapter):
# the real server from Maven Central (org.apache.cassandra:cassandra-all, CassandraDaemon) on
# the JVM, single node, everything on 127.0.0.1. deploy/cassandra/ holds its pom.xml (the jars),
# cassandra.yaml (a template) and logback.xml. Under .data/ of the checkout (git-ignored):
# cassandra/lib (the jars, copied once by mvn), cassandra/conf, cassandra/data..., the pid file
# cassandra.pid and the log cassandra.log.
#
#   deploy/cassandra.sh up       fetch the jars when missing, start when not listening (idempotent)
#   deploy/cassandra.sh down     stop the Cassandra this script started
#   deploy/cassandra.sh status   say whether it runs (exit status 3 when it does not)
#   deploy/cassandra.sh env      print RESERVO_CASSANDRA_HOSTS
#
# Ports: CQL RESERVO_CASSANDRA_PORT (19042), storage (gossip) RESERVO_CASSANDRA_STORAGE_PORT
# (17000), JMX RESERVO_CASSANDRA_JMX_PORT (17199, local only). Heap RESERVO_CASSANDRA_HEAP (512m).
# The JVM is `java` (Java 11 or 17; Cassandra 5.0 runs on no other), or RESERVO_CASSANDRA_JAVA;
# RESERVO_CASSANDRA_JVM_OPTS adds options (e.g. -XX:NativeMemoryTracking=summary).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
SRC="$ROOT/deploy/cassandra"
HOME_DIR="$DATA/cassandra"
LIB="$HOME_DIR/lib"
CONF="$HOME_DIR/conf"
PORT=${RESERVO_CASSANDRA_PORT:-19042}
STORAGE_PORT=${RESERVO_CASSANDRA_STORAGE_PORT:-17000}
JMX_PORT=${RESERVO_CASSANDRA_JMX_PORT:-17199}
HEAP=${RESERVO_CASSANDRA_HEAP:-512m}
JAVA=${RESERVO_CASSANDRA_JAVA:-java}
START_TIMEOUT=${RESERVO_CASSANDRA_START_TIMEOUT:-240} # seconds
PIDFILE="$DATA/cassandra.pid"
LOG="$DATA/cassandra.log"
MAIN=org.apache.cassandra.service.CassandraDaemon
NAME=cassandra
MATCH="$MAIN"
# shellcheck source=lib.sh
. "$ROOT/deploy/lib.sh"

# fetch copies cassandra-all and its runtime dependencies into $LIB, once per pom.xml: a stamp
# holds the pom's checksum, so a new version in the pom fetches again and nothing else does.
fetch() {
  local sum
  sum=$(sha256sum "$SRC/pom.xml" | cut -d' ' -f1)
  if [ -d "$LIB" ] && [ "$(cat "$LIB/.stamp" 2>/dev/null)" = "$sum" ]; then
    return
  fi
  command -v mvn >/dev/null || die "mvn (Maven) is needed to fetch Cassandra from Maven Central"
  log "fetching the Cassandra jars with mvn into $LIB (first run: downloads into ~/.m2)"
  rm -rf "$LIB.tmp"
  mkdir -p "$HOME_DIR"
  mvn -q -B -Dstyle.color=never -f "$SRC/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIB.tmp" \
    >"$HOME_DIR/mvn.log" 2>&1 || { tail -n 30 "$HOME_DIR/mvn.log" >&2; die "mvn dependency:copy-dependencies failed"; }
  echo "$sum" >"$LIB.tmp/.stamp"
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
}

# configure renders the configuration; cheap, so every start takes the current template.
configure() {
  mkdir -p "$CONF" "$HOME_DIR"/{data,commitlog,saved_caches,hints,cdc_raw,triggers}
  sed -e "s|@DATA@|$HOME_DIR|g" -e "s|@NATIVE_PORT@|$PORT|g" -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" \
    "$SRC/cassandra.yaml" >"$CONF/cassandra.yaml"
  cp "$SRC/logback.xml" "$CONF/logback.xml"
}

java_major() {
  "$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}

# The JVM options of Cassandra's conf/jvm17-server.options (module access for Java 11+) and
# jvm-server.options, minus what only pays off on big machines (pre-touch, big G1 regions).
jvm_opts() {
  local jamm
  jamm=$(ls "$LIB"/jamm-*.jar | head -n 1)
  printf '%s\n' \
    "-Xms$HEAP" "-Xmx$HEAP" -Xss256k -XX:+UseSerialGC -XX:MaxDirectMemorySize=256m \
    -XX:+ExitOnOutOfMemoryError -XX:+PerfDisableSharedMem \
    -XX:CICompilerCount=2 \
    "-javaagent:$jamm" \
    -Djava.net.preferIPv4Stack=true \
    -Djdk.attach.allowAttachSelf=true \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED \
    --add-exports java.sql/java.sql=ALL-UNNAMED \
    --add-exports java.base/java.lang.ref=ALL-UNNAMED \
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED \
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED \
    --add-opens java.base/java.lang.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    -Dio.netty.tryReflectionSetAccessible=true \
    -Dio.netty.allocator.useCacheForAllThreads=true \
    -Dio.netty.allocator.maxOrder=11 \
    "-Dcassandra.config=file://$CONF/cassandra.yaml" \
    "-Dlogback.configurationFile=$CONF/logback.xml" \
    "-Dcassandra.logdir=$HOME_DIR/logs" \
    "-Dcassandra.storagedir=$HOME_DIR" \
    "-Dcassandra.triggers_dir=$HOME_DIR/triggers" \
    "-Dcassandra.jmx.local.port=$JMX_PORT" \
    -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms=100 \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -Dcassandra.load_ring_state=false
}

up() {
  local pid major
  if port_open "$PORT"; then
    log "already listening on 127.0.0.1:$PORT"
    return
  fi
  if ! pid=$(running_pid); then
    command -v "$JAVA" >/dev/null || die "java is needed (Java 11 or 17)"
    major=$(java_major)
    case "$major" in 11 | 17) ;; *) die "Cassandra 5.0 runs on Java 11 or 17, $JAVA is $major (set RESERVO_CASSANDRA_JAVA)" ;; esac
    port_open "$STORAGE_PORT" && die "127.0.0.1:$STORAGE_PORT (storage port) is taken by another process"
    fetch
    configure
    log "starting on 127.0.0.1:$PORT (heap $HEAP), log $LOG"
    local opts=()
    mapfile -t opts < <(jvm_opts)
    # shellcheck disable=SC2206 # extra options are words, by design
    opts+=(${RESERVO_CASSANDRA_JVM_OPTS:-})
    (cd "$HOME_DIR" && exec setsid nohup "$JAVA" "${opts[@]}" -cp "$LIB/*" "$MAIN" </dev/null >"$LOG" 2>&1) &
    echo $! >"$PIDFILE"
    pid=$(cat "$PIDFILE")
  else
    log "starting already (pid $pid)"
  fi
  local waited=0
  while [ "$waited" -lt $((START_TIMEOUT * 5)) ]; do
    port_open "$PORT" && { log "up: 127.0.0.1:$PORT (pid $pid)"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
    waited=$((waited + 1))
  done
  tail -n 30 "$LOG" >&2 || true
  die "did not open 127.0.0.1:$PORT within $START_TIMEOUT s (log $LOG)"
}

down() {
  # SIGTERM runs Cassandra's shutdown hook (drain: memtables flushed, commit log closed).
  stop_started 30
}

status() {
  local pid=""
  pid=$(running_pid) || pid=""
  if port_open "$PORT"; then
    echo "cassandra up (127.0.0.1:$PORT${pid:+, pid $pid})"
  else
    echo "cassandra down ($PORT${pid:+, pid $pid starting})"
    return 3
  fi
}

case "${1:-up}" in
up) up ;;
down) down ;;
status) status ;;
env) echo "RESERVO_CASSANDRA_HOSTS=${RESERVO_CASSANDRA_HOSTS:-127.0.0.1:$PORT}" ;;
*) die "usage: $0 up|down|status|env" ;;
esac
