#!/usr/bin/env bash
# Schemathesis (PyPI), the property-based tester of the API against its OpenAPI document, in a
# virtual environment of its own under .data/venv (git-ignored). The contract test
# (api/contract) runs it against an API it starts on a free port.
#
#   deploy/schemathesis.sh install   make the venv and install the pinned version when missing
#   deploy/schemathesis.sh path      print the path of the schemathesis executable
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
VERSION=4.32.5
VENV="$DATA/venv"
BIN="$VENV/bin/schemathesis"

log() { printf 'schemathesis: %s\n' "$*" >&2; }

install() {
  # A stamp beside the venv: reinstall when VERSION changes.
  if [ -x "$BIN" ] && [ "$(cat "$VENV/schemathesis.version" 2>/dev/null)" = "$VERSION" ]; then
    return
  fi
  command -v python3 >/dev/null || { log "python3 is needed (Debian: apt-get install -y python3 python3-venv)"; exit 1; }
  log "installing schemathesis==$VERSION into $VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv apart.
    if [ "$(id -u)" = 0 ]; then apt-get install -y python3-venv >&2; else sudo apt-get install -y python3-venv >&2; fi
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
  echo "$VERSION" >"$VENV/schemathesis.version"
}

case "${1:-}" in
  install) install ;;
  path) install; echo "$BIN" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
