#!/usr/bin/env bash
# make bench: the Go benchmarks, then `reservo bench` (hold, booking, read, search, mixed) on
# the local stack (started when needed), in a database of its own (bench) seeded with
# BENCH_VENDORS vendors (default 20000; the seed's full size is 500000, about 12 minutes to
# generate), against a `reservo all` of its own on 127.0.0.1:18080 with rate limits and the cap
# of a guest's holds off (one benchmark guest holds thousands).
# The seeded database is kept between runs while its size matches; BENCH_RESEED=1 makes it anew.
# Figures: stdout, .data/bench/latest.json; the server's log: .data/bench/server.log; the
# server's pprof profiles on 127.0.0.1:16060 while it runs (BENCH_PPROF_ADDR).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
cd "$ROOT"
VENDORS=${BENCH_VENDORS:-20000}
DURATION=${BENCH_DURATION:-10s}
WORKERS=${BENCH_WORKERS:-8}
PORT=${BENCH_PORT:-18080}

deploy/stack.sh up
eval "$(deploy/stack.sh env | sed 's/^/export /')"
mkdir -p "$DATA/bench" "$DATA/bin"
# The read scenario loads the API with wrk (C) as redis-benchmark (C) loads Redis.
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk from Debian's packages" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; fi
fi

if [ -z "${BENCH_SKIP_GO:-}" ]; then
  # The Go benchmarks include the Elasticsearch adapter's search.
  deploy/elasticsearch.sh up
  eval "$(deploy/elasticsearch.sh env | sed 's/^/export /')"
  echo "== go test -bench"
  go test -run '^$' -bench . -benchmem ./...
fi

go build -o "$DATA/bin/reservo" ./cmd/reservo
if [ -z "${BENCH_SKIP_PRICING:-}" ]; then
  # The market simulation of dynamic pricing: CPU only, about a minute; its table, JSON and
  # plots go to bench/results (BENCHMARKS.md "Dynamic pricing").
  echo "== reservo bench pricing"
  "$DATA/bin/reservo" bench pricing -out bench/results | tee "$DATA/bench/pricing.md"
fi
base=${RESERVO_DATABASE_URL%/*}
admin="${base}/postgres?sslmode=disable"
export RESERVO_DATABASE_URL="${base}/bench?sslmode=disable"
have=$(psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'bench'")
seeded=0
if [ "$have" = 1 ]; then
  seeded=$(psql "$RESERVO_DATABASE_URL" -tAc "SELECT count(*) FROM vendor WHERE name NOT LIKE 'Benchmark%'" 2>/dev/null || echo 0)
fi
if [ -n "${BENCH_RESEED:-}" ] || [ "$seeded" != "$VENDORS" ]; then
  echo "== seeding $VENDORS vendors into the bench database"
  psql "$admin" -qc "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench"
  "$DATA/bin/reservo" seed --vendors "$VENDORS" --users 2000
  psql "$RESERVO_DATABASE_URL" -qc "VACUUM ANALYZE"
else
  echo "== the bench database holds the $VENDORS seeded vendors already (BENCH_RESEED=1 makes it anew)"
fi

# Events written into the bench database while no server ran (reservo bench run by hand, an
# interrupted run) are benchmark holds nobody waits for: the consumers start at the log's end
# instead of spending the run catching up on them. Between scenarios, reservo bench waits for
# the consumers to catch up (bench.Settle).
psql "$RESERVO_DATABASE_URL" -qc "UPDATE consumer_offset SET last_seq = (SELECT coalesce(max(seq), 0) FROM event_log), updated_at = now()"

# Holds nobody pays (every one of the BLOCKED scenario) wait BENCH_HOLD_TIMEOUT (default a
# day) to expire: with the product's 10 minutes, a run's hundreds of expiries fell into the next
# runs and their workflow tasks queued ahead of the bookings measured (seconds of stall).
echo "== reservo all on 127.0.0.1:$PORT (rate limits off)"
RESERVO_HOLD_TIMEOUT=${BENCH_HOLD_TIMEOUT:-24h} RESERVO_HTTP_ADDR=127.0.0.1:$PORT RESERVO_PUBLIC_URL=http://127.0.0.1:$PORT RESERVO_RATE_LIMIT=0 RESERVO_MAX_HOLDS_PER_GUEST=0 RESERVO_LOGIN_RATE_LIMIT=0 \
  RESERVO_TEMPORAL_TASK_QUEUE=bench-booking RESERVO_METRICS_ADDR=127.0.0.1:0 RESERVO_LOG_LEVEL=warn \
  RESERVO_PPROF_ADDR=${BENCH_PPROF_ADDR:-127.0.0.1:16060} \
  "$DATA/bin/reservo" all >"$DATA/bench/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { tail -n 30 "$DATA/bench/server.log" >&2; exit 1; }
  sleep 0.2
done

echo "== reservo bench ${*:-all} (workers $WORKERS, $DURATION each)"
"$DATA/bin/reservo" bench "${@:-all}" -url "http://127.0.0.1:$PORT" -server-pid "$pid" \
  -workers "$WORKERS" -duration "$DURATION" -json "$DATA/bench/latest.json"
