#!/usr/bin/env bash
# stripe-mock (github.com/stripe/stripe-mock) for the tests of the Stripe adapter (stripe/):
# a local server that answers the Stripe API from Stripe's OpenAPI document. It checks requests
# against the real schema but keeps no state, never declines and ignores idempotency keys.
# Binary, pid and log live under .data/ of the checkout (git-ignored); it listens on 127.0.0.1
# only: HTTP on RESERVO_STRIPE_MOCK_PORT (12111), HTTPS on RESERVO_STRIPE_MOCK_HTTPS_PORT (12112).
#
#   deploy/stripe-mock.sh up       install when missing, start when not listening (idempotent)
#   deploy/stripe-mock.sh down     stop the stripe-mock this script started
#   deploy/stripe-mock.sh status   say whether it runs (exit status 3 when it does not)
#
# Tests find it through RESERVO_STRIPE_MOCK_URL (default http://127.0.0.1:12111).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
VERSION=v0.203.0
PORT=${RESERVO_STRIPE_MOCK_PORT:-12111}
HTTPS_PORT=${RESERVO_STRIPE_MOCK_HTTPS_PORT:-12112}
BIN="$DATA/bin/stripe-mock"
PIDFILE="$DATA/stripe-mock.pid"
NAME=stripe-mock
MATCH="stripe-mock"
# shellcheck source=lib.sh
. "$ROOT/deploy/lib.sh"
LOG="$DATA/stripe-mock.log"

install() {
  # A stamp next to the binary: reinstall when VERSION changes.
  if [ -x "$BIN" ] && [ "$(cat "$BIN.version" 2>/dev/null)" = "$VERSION" ]; then
    return
  fi
  command -v go >/dev/null || die "go is needed to install stripe-mock"
  log "installing github.com/stripe/stripe-mock@$VERSION into $DATA/bin"
  mkdir -p "$DATA/bin"
  (cd "$ROOT" && GOBIN="$DATA/bin" go install "github.com/stripe/stripe-mock@$VERSION")
  echo "$VERSION" >"$BIN.version"
}

up() {
  if port_open "$PORT"; then
    log "already listening on 127.0.0.1:$PORT"
    return
  fi
  install
  mkdir -p "$DATA"
  log "starting on http://127.0.0.1:$PORT (https 127.0.0.1:$HTTPS_PORT), log $LOG"
  setsid nohup "$BIN" -http-addr "127.0.0.1:$PORT" -https-addr "127.0.0.1:$HTTPS_PORT" \
    </dev/null >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  local pid; pid=$(cat "$PIDFILE")
  for _ in $(seq 1 300); do
    port_open "$PORT" && { log "up: http://127.0.0.1:$PORT"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$LOG" >&2 || true
  die "did not open 127.0.0.1:$PORT"
}

down() {
  stop_started 5
}

status() {
  local pid=""
  pid=$(running_pid) || pid=""
  if port_open "$PORT"; then
    echo "stripe-mock up (http://127.0.0.1:$PORT${pid:+, pid $pid})"
  else
    echo "stripe-mock down ($PORT)"
    return 3
  fi
}

case "${1:-up}" in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac
