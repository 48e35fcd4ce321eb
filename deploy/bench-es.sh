#!/usr/bin/env bash
# The search shapes on Elasticsearch (BENCHMARKS.md, "Search on Elasticsearch"): the bench
# database (seeded by deploy/bench.sh or reservo seed; only read here) is loaded into an index of
# its own, prefix BENCH_ES_PREFIX (default bench: never the tests' or the stack's index), by
# `reservo reindex` when the index holds fewer documents than the database vendors (or
# BENCH_ES_REINDEX=1: a backfill run, idempotent), then `reservo bench search-es` measures each
# shape through the adapter beside the same requests sent straight to Elasticsearch, with
# BENCH_WORKERS clients (default 1) for BENCH_DURATION each (default 10s).
# Figures: stdout and BENCH_JSON (default .data/bench/search-es.json); the binary: BENCH_BIN.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
cd "$ROOT"
PREFIX=${BENCH_ES_PREFIX:-bench}
WORKERS=${BENCH_WORKERS:-1}
DURATION=${BENCH_DURATION:-10s}
JSON=${BENCH_JSON:-$DATA/bench/search-es.json}
BIN=${BENCH_BIN:-$DATA/bin/reservo} # the binary built for the run

eval "$(deploy/stack.sh env | sed 's/^/export /')"
deploy/elasticsearch.sh up
eval "$(deploy/elasticsearch.sh env | sed 's/^/export /')"
export RESERVO_DATABASE_URL="${RESERVO_DATABASE_URL%/*}/bench?sslmode=disable" RESERVO_ELASTIC_PREFIX=$PREFIX
mkdir -p "$DATA/bench" "$(dirname "$BIN")"
go build -o "$BIN" ./cmd/reservo

vendors=$(psql "$RESERVO_DATABASE_URL" -tAc "SELECT count(*) FROM vendor")
# No index yet (a fresh machine) is no document: curl fails on its 404.
docs=$({ curl -fs "$RESERVO_ELASTIC_URL/$PREFIX-vendors/_count" 2>/dev/null || true; } | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
if [ -n "${BENCH_ES_REINDEX:-}" ] || [ "${docs:-0}" -lt "$vendors" ]; then
  echo "== reservo reindex: $vendors vendors into $PREFIX-vendors (it holds ${docs:-0} documents)"
  "$BIN" reindex
else
  echo "== $PREFIX-vendors holds $docs documents for $vendors vendors (BENCH_ES_REINDEX=1 copies them again)"
fi
curl -fs -X POST "$RESERVO_ELASTIC_URL/$PREFIX-vendors/_refresh" >/dev/null

echo "== reservo bench search-es (workers $WORKERS, $DURATION each)"
"$BIN" bench search-es -workers "$WORKERS" -duration "$DURATION" -json "$JSON"
