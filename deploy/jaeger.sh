#!/usr/bin/env bash
# Jaeger, where Reservo's traces go: github.com/jaegertracing/jaeger/cmd/jaeger v1.75.0 (Jaeger
# v2, built from the Go module proxy by deploy/jaeger/go.mod, once, into .data/bin), configured
# by deploy/jaeger/config.yaml: OTLP receivers, Badger storage under .data/jaeger, the query API
# and UI. Every port on 127.0.0.1:
#   RESERVO_JAEGER_OTLP_PORT       OTLP/gRPC (4317): RESERVO_OTEL_ENDPOINT
#   RESERVO_JAEGER_OTLP_HTTP_PORT  OTLP/HTTP (4318)
#   RESERVO_JAEGER_UI_PORT         UI and query API /api/traces (16686)
#   RESERVO_JAEGER_GRPC_PORT       query API over gRPC (16685)
#   RESERVO_JAEGER_HEALTH_PORT     health check (13133)
#   RESERVO_JAEGER_UI_ASSETS       a jaeger-ui build to serve (docs/jaeger-ui.md); empty: the binary's
#                                  own, a placeholder page (the module proxy's Jaeger has no UI assets)
#
#   deploy/jaeger.sh up|down|status|env|build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
PORT=${RESERVO_JAEGER_OTLP_PORT:-4317}
HTTP_PORT=${RESERVO_JAEGER_OTLP_HTTP_PORT:-4318}
UI_PORT=${RESERVO_JAEGER_UI_PORT:-16686}
GRPC_PORT=${RESERVO_JAEGER_GRPC_PORT:-16685}
HEALTH_PORT=${RESERVO_JAEGER_HEALTH_PORT:-13133}
BIN="$DATA/bin/jaeger"
PIDFILE="$DATA/jaeger/jaeger.pid"
LOG="$DATA/jaeger/jaeger.log"
NAME=jaeger
MATCH="bin/jaeger"
# shellcheck source=lib.sh
. "$ROOT/deploy/lib.sh"

# build compiles Jaeger once (about 5 minutes of 2 cores cold; see README), again only when
# deploy/jaeger/go.mod or go.sum change.
build() {
  local src="$ROOT/deploy/jaeger" stamp
  stamp=$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -d' ' -f1)
  if [ -x "$BIN" ] && [ "$(cat "$BIN.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  command -v go >/dev/null || die "go is needed to build jaeger"
  log "building github.com/jaegertracing/jaeger/cmd/jaeger (about 5 minutes the first time)"
  mkdir -p "$DATA/bin"
  (cd "$src" && go build -trimpath -ldflags='-s -w' -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
  mv "$BIN.tmp" "$BIN"
  echo "$stamp" >"$BIN.stamp"
}

up() {
  build
  if port_open "$PORT"; then
    log "already listening on 127.0.0.1:$PORT"
    return
  fi
  mkdir -p "$DATA/jaeger/badger"
  log "starting: OTLP 127.0.0.1:$PORT, UI http://127.0.0.1:$UI_PORT, log $LOG"
  JAEGER_DATA="$DATA/jaeger/badger" JAEGER_OTLP_GRPC_PORT=$PORT JAEGER_OTLP_HTTP_PORT=$HTTP_PORT \
    JAEGER_UI_PORT=$UI_PORT JAEGER_QUERY_GRPC_PORT=$GRPC_PORT JAEGER_HEALTH_PORT=$HEALTH_PORT \
    JAEGER_UI_ASSETS=${RESERVO_JAEGER_UI_ASSETS:-} \
    setsid nohup "$BIN" --config "$ROOT/deploy/jaeger/config.yaml" </dev/null >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  local pid; pid=$(cat "$PIDFILE")
  for _ in $(seq 1 300); do
    if port_open "$PORT" && port_open "$UI_PORT"; then log "up"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 30 "$LOG" >&2 || true
  die "did not open 127.0.0.1:$PORT and :$UI_PORT"
}

case "${1:-}" in
up) up ;;
down) stop_started 10 ;;
status)
  if port_open "$PORT"; then echo "jaeger up ($PORT, UI $UI_PORT)"; else echo "jaeger down ($PORT, UI $UI_PORT)"; exit 3; fi ;;
env)
  echo "RESERVO_OTEL_ENDPOINT=${RESERVO_OTEL_ENDPOINT:-127.0.0.1:$PORT}"
  echo "RESERVO_JAEGER_URL=${RESERVO_JAEGER_URL:-http://127.0.0.1:$UI_PORT}"
  ;;
build) build ;;
*) die "usage: $0 up|down|status|env|build" ;;
esac
