#!/usr/bin/env bash
# make bench: the Go benchmarks, then `reservo bench` in a database of its own (bench), on the
# local stack (started when needed). Figures: stdout and .data/bench/latest.json.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
deploy/stack.sh up
eval "$(deploy/stack.sh env | sed 's/^/export /')"
go test -run '^$' -bench . -benchmem ./...
go build -o .data/bin/reservo ./cmd/reservo
base=${RESERVO_DATABASE_URL%/*}
psql "${base}/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
RESERVO_DATABASE_URL="${base}/bench?sslmode=disable" .data/bin/reservo bench -duration "${BENCH_DURATION:-10s}"
