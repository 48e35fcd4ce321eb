#!/usr/bin/env bash
# HAProxy from Debian's packages, in front of Reservo's API processes and the Temporal frontends:
# make run PROFILE=scale (deploy/run.sh) and the high-availability suite (cmd/reservo TestHA_*,
# deploy/ha.sh) run it with the configuration that `config` writes, so that both check and retry
# alike.
#   deploy/haproxy.sh path   install it when missing; print the path of the haproxy binary
#   deploy/haproxy.sh config API_ADDR API_BACKENDS [TEMPORAL_ADDR TEMPORAL_BACKENDS]
#                            print the configuration: on API_ADDR, HTTP to the API processes (a
#                            comma-separated list of host:port), each health-checked on /readyz
#                            every half second (out after two failures, in after two successes),
#                            a request whose connection failed or that got no answer at all sent
#                            again to another (the booking routes are idempotent); on
#                            TEMPORAL_ADDR, gRPC (TCP) to the Temporal frontends, each checked by
#                            a connection every half second, idle timeouts of five minutes (a
#                            worker's long poll lasts up to one)
set -euo pipefail

log() { printf 'haproxy: %s\n' "$*" >&2; }

install() {
  if command -v haproxy >/dev/null; then return; fi
  log "installing haproxy from Debian's packages"
  local sudo=
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  $sudo apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  # The package starts a system service with its own configuration: the suite runs its own.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then $sudo systemctl disable --now haproxy >/dev/null 2>&1 || true; fi
}

# servers PREFIX BACKENDS: one server line per host:port of the comma-separated BACKENDS.
servers() {
  local i=0 b
  IFS=, read -ra list <<<"$2"
  for b in "${list[@]}"; do
    i=$((i + 1))
    echo "    server $1-$i $b check"
  done
}

config() {
  [ $# = 2 ] || [ $# = 4 ] || { echo "usage: deploy/haproxy.sh config API_ADDR API_BACKENDS [TEMPORAL_ADDR TEMPORAL_BACKENDS]" >&2; exit 2; }
  cat <<CFG
global
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout queue 10s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
frontend api
    bind $1
    default_backend reservo
backend reservo
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fastinter 250ms fall 2 rise 2 on-marked-down shutdown-sessions
$(servers serve "$2")
CFG
  if [ $# = 4 ]; then
    cat <<CFG
frontend temporal
    mode tcp
    bind $3
    timeout client 5m
    default_backend temporal
backend temporal
    mode tcp
    timeout server 5m
    default-server inter 500ms fastinter 250ms fall 2 rise 2 on-marked-down shutdown-sessions
$(servers temporal "$4")
CFG
  fi
}

case "${1:-path}" in
  path) install; command -v haproxy ;;
  config) shift; config "$@" ;;
  *) echo "usage: deploy/haproxy.sh path | config API_ADDR API_BACKENDS [TEMPORAL_ADDR TEMPORAL_BACKENDS]" >&2; exit 2 ;;
esac
