#!/usr/bin/env bash
# Elasticsearch 8 for the search index of the scale profile (the elastic/ adapter): the real
# server from Maven Central (org.elasticsearch:elasticsearch with the Netty4 module) on the JVM,
# one node, everything on 127.0.0.1. There is no distribution tarball on Maven Central, so
# deploy/elasticsearch/ holds a small launcher (pom.xml + Launcher.java) that starts a node in
# its own JVM with the Netty4 plugin from the classpath. Under .data/ of the checkout
# (git-ignored): elasticsearch/build (the launcher and its jars, built once by mvn),
# elasticsearch/{config,data,logs}, the pid file elasticsearch.pid and the log elasticsearch.log.
#
#   deploy/elasticsearch.sh up       build when missing, start when not listening (idempotent)
#   deploy/elasticsearch.sh down     stop the Elasticsearch this script started
#   deploy/elasticsearch.sh status   say whether it runs (exit status 3 when it does not)
#   deploy/elasticsearch.sh env      print RESERVO_ELASTIC_URL
#
# Ports: HTTP RESERVO_ELASTIC_PORT (19200), transport RESERVO_ELASTIC_TRANSPORT_PORT (19300).
# Heap RESERVO_ELASTIC_HEAP (512m). The JVM is `java` (17 or newer), or RESERVO_ELASTIC_JAVA;
# RESERVO_ELASTIC_JVM_OPTS adds options. No security (no x-pack): plain HTTP, no users.
# Without the distribution's modules there is no painless scripting, no ingest pipelines and
# no analysis-common filters; the adapter needs none of them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
SRC="$ROOT/deploy/elasticsearch"
HOME_DIR="$DATA/elasticsearch"
BUILD="$HOME_DIR/build"
PORT=${RESERVO_ELASTIC_PORT:-19200}
TRANSPORT_PORT=${RESERVO_ELASTIC_TRANSPORT_PORT:-19300}
HEAP=${RESERVO_ELASTIC_HEAP:-512m}
JAVA=${RESERVO_ELASTIC_JAVA:-java}
START_TIMEOUT=${RESERVO_ELASTIC_START_TIMEOUT:-180} # seconds
PIDFILE="$DATA/elasticsearch.pid"
LOG="$DATA/elasticsearch.log"
MAIN=com.github.reservo.elasticsearch.Launcher
NAME=elasticsearch
MATCH="$MAIN"
# shellcheck source=lib.sh
. "$ROOT/deploy/lib.sh"

# http_get prints the body of GET http://127.0.0.1:$PORT$1 (HTTP/1.0: the server closes the
# connection after the answer), without curl.
http_get() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
    timeout 5 cat <&3
  ) 2>/dev/null
}

healthy() { http_get '/_cluster/health' | grep -Eq '"status":"(green|yellow)"'; }

# build compiles the launcher and copies its runtime jars into $BUILD, once per source: a stamp
# holds the checksum of the pom and the sources, so only a change there builds again.
build() {
  local sum
  sum=$(cd "$SRC" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
  # A build is whole when its stamp matches and it has the launcher's resources (a build cut
  # short by a kill can leave classes without them).
  if [ -d "$BUILD/lib" ] && [ -f "$BUILD/classes/log4j2.properties" ] &&
    [ "$(cat "$BUILD/.stamp" 2>/dev/null)" = "$sum" ]; then
    return
  fi
  command -v mvn >/dev/null || die "mvn (Maven) is needed to fetch Elasticsearch from Maven Central"
  log "building the launcher with mvn into $BUILD (first run: downloads into ~/.m2)"
  rm -rf "$BUILD.tmp"
  mkdir -p "$HOME_DIR"
  mvn -q -B -Dstyle.color=never -f "$SRC/pom.xml" -Dbuild.dir="$BUILD.tmp" compile dependency:copy-dependencies \
    >"$HOME_DIR/mvn.log" 2>&1 || { tail -n 30 "$HOME_DIR/mvn.log" >&2; die "mvn build of the launcher failed"; }
  echo "$sum" >"$BUILD.tmp/.stamp"
  rm -rf "$BUILD"
  mv "$BUILD.tmp" "$BUILD"
}

java_major() {
  "$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}

# The options of the distribution's config/jvm.options that matter for one small node.
jvm_opts() {
  printf '%s\n' \
    "-Xms$HEAP" "-Xmx$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:+PerfDisableSharedMem \
    -XX:CICompilerCount=2 \
    -Dfile.encoding=UTF-8 -Djava.awt.headless=true \
    -Dlog4j2.disable.jmx=true -Dlog4j2.shutdownHookEnabled=false -Dlog4j.skipJansi=true \
    -Des.networkaddress.cache.ttl=60 -Des.networkaddress.cache.negative.ttl=10 \
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
    "-Djava.io.tmpdir=$HOME_DIR/tmp" \
    "-Dreservo.es.home=$HOME_DIR" \
    "-Dreservo.es.http.port=$PORT" \
    "-Dreservo.es.transport.port=$TRANSPORT_PORT"
}

up() {
  local pid="" major
  if port_open "$PORT"; then
    log "already listening on 127.0.0.1:$PORT"
    pid=$(running_pid) || pid=""
  elif ! pid=$(running_pid); then
    command -v "$JAVA" >/dev/null || die "java is needed (17 or newer)"
    major=$(java_major)
    [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "Elasticsearch 8 needs Java 17 or newer, $JAVA is $major (set RESERVO_ELASTIC_JAVA)"
    port_open "$TRANSPORT_PORT" && die "127.0.0.1:$TRANSPORT_PORT (transport port) is taken by another process"
    build
    mkdir -p "$HOME_DIR/tmp"
    log "starting on http://127.0.0.1:$PORT (heap $HEAP), log $LOG"
    local opts=()
    mapfile -t opts < <(jvm_opts)
    # shellcheck disable=SC2206 # extra options are words, by design
    opts+=(${RESERVO_ELASTIC_JVM_OPTS:-})
    (cd "$HOME_DIR" && exec setsid nohup "$JAVA" "${opts[@]}" -cp "$BUILD/classes:$BUILD/lib/*" "$MAIN" \
      </dev/null >"$LOG" 2>&1) &
    echo $! >"$PIDFILE"
    pid=$(cat "$PIDFILE")
  else
    log "starting already (pid $pid)"
  fi
  local waited=0
  while [ "$waited" -lt $((START_TIMEOUT * 5)) ]; do
    healthy && { log "up: http://127.0.0.1:$PORT${pid:+ (pid $pid)}"; return 0; }
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
    waited=$((waited + 1))
  done
  tail -n 30 "$LOG" >&2 || true
  # The tail is mostly the node closing; the cause is the first exception above it.
  grep -m 5 -E '(Exception|Error)(:| )' "$LOG" | cut -c1-400 >&2 || true
  die "http://127.0.0.1:$PORT/_cluster/health did not answer green or yellow within $START_TIMEOUT s (log $LOG)"
}

down() {
  # SIGTERM runs the launcher's shutdown hook, which closes the node (shards flushed).
  stop_started 30
}

status() {
  local pid=""
  pid=$(running_pid) || pid=""
  if healthy; then
    echo "elasticsearch up (http://127.0.0.1:$PORT${pid:+, pid $pid})"
  else
    echo "elasticsearch down ($PORT${pid:+, pid $pid starting})"
    return 3
  fi
}

case "${1:-up}" in
up) up ;;
down) down ;;
status) status ;;
env) echo "RESERVO_ELASTIC_URL=${RESERVO_ELASTIC_URL:-http://127.0.0.1:$PORT}" ;;
*) die "usage: $0 up|down|status|env" ;;
esac
