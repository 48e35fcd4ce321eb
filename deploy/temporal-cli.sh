#!/usr/bin/env bash
# The official Temporal CLI (github.com/temporalio/cli, tctl's successor) in support staff's
# hands, against this stack and as staff: with a token of `reservo ops token` (audited: who,
# why) and decoding through the staff plane's codec server.
#
#   deploy/temporal-cli.sh build         build it once into .data/bin/temporal (make cli; about 9
#                                        minutes cold on 2 cores, a 250 MB binary; then cached)
#   RESERVO_OPS_REASON='ticket 4711' deploy/temporal-cli.sh workflow list --query "BookingStatus='BLOCKED'"
#
# The token is read only unless RESERVO_CLI_WRITE=1 (reset, terminate, signal: prefer
# `reservo ops`, which audits each action and knows the money). It is kept in
# .data/temporal-cli/ (mode 600) and made again after 50 minutes; TEMPORAL_API_KEY overrides it.
# RESERVO_* come from `deploy/stack.sh env` unless set.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
VERSION=v1.5.1 # v1.9.1 does not build from the module proxy (its cliext module is missing)
BIN=$DATA/bin/temporal

build() {
  if [ -x "$BIN" ] && [ "$(cat "$BIN.version" 2>/dev/null)" = "$VERSION" ]; then return; fi
  echo "temporal-cli: building github.com/temporalio/cli $VERSION into $BIN (about 9 minutes the first time)" >&2
  mkdir -p "$DATA/bin"
  GOBIN="$DATA/bin" go install "github.com/temporalio/cli/cmd/temporal@$VERSION"
  echo "$VERSION" >"$BIN.version"
}

if [ "${1:-}" = build ]; then build; exit 0; fi
[ -x "$BIN" ] || { echo "temporal-cli: $BIN is missing: make cli builds it" >&2; exit 1; }

eval "$("$ROOT/deploy/stack.sh" env | grep -v '^$' | while IFS='=' read -r k v; do
  [ -n "${!k:-}" ] || printf 'export %s=%q\n' "$k" "$v"; done)"

token() {
  if [ -n "${TEMPORAL_API_KEY:-}" ]; then echo "$TEMPORAL_API_KEY"; return; fi
  local dir=$DATA/temporal-cli file
  file=$dir/token${RESERVO_CLI_WRITE:+-write}
  if [ -s "$file" ] && [ -n "$(find "$file" -mmin -50 2>/dev/null)" ]; then cat "$file"; return; fi
  : "${RESERVO_OPS_REASON:?say why you use the CLI: RESERVO_OPS_REASON='ticket 4711' $0 ...}"
  (cd "$ROOT" && go build -o "$DATA/bin/reservo" ./cmd/reservo) # this checkout's build
  mkdir -p "$dir" && chmod 700 "$dir"
  (umask 077 && "$DATA/bin/reservo" ops token --reason "$RESERVO_OPS_REASON" ${RESERVO_CLI_WRITE:+--write} >"$file.tmp")
  mv "$file.tmp" "$file"
  cat "$file"
}

TOKEN=$(token)
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-$RESERVO_TEMPORAL_ADDR}
export TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-${RESERVO_TEMPORAL_NAMESPACE:-default}}
export TEMPORAL_API_KEY=$TOKEN
export TEMPORAL_TLS=${RESERVO_TEMPORAL_TLS:-false}
export TEMPORAL_CODEC_ENDPOINT=${TEMPORAL_CODEC_ENDPOINT:-${RESERVO_STAFF_PUBLIC_URL:-http://127.0.0.1:8243}/codec}
export TEMPORAL_CODEC_AUTH="Bearer $TOKEN"
exec "$BIN" "$@"
