#!/usr/bin/env bash
# HAProxy from Debian's packages, for the high-availability suite (cmd/reservo TestHA_*, run by
# deploy/ha.sh) that puts two API processes behind it.
#   deploy/haproxy.sh path   install it when missing; print the path of the haproxy binary
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

case "${1:-path}" in
  path) install; command -v haproxy ;;
  *) echo "usage: deploy/haproxy.sh path" >&2; exit 2 ;;
esac
