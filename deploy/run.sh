#!/usr/bin/env bash
# make run: bring up the local stack, build and migrate, then run `reservo all` in the
# foreground. Ctrl-C stops Reservo and the stack it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
cd "$ROOT"

deploy/stack.sh up
eval "$(deploy/stack.sh env | sed 's/^/export /')"
if [ "${RESERVO_PROFILE:-local}" = scale ] && [ -n "${RESERVO_REDIS_CLUSTER_ADDRS:-}" ]; then
  export RESERVO_REDIS_ADDR=$RESERVO_REDIS_CLUSTER_ADDRS # the scale profile's cache is the Redis Cluster
fi

# A signing key of the local stack's own, kept so that tokens survive a restart.
if [ -z "${RESERVO_JWT_SECRET:-}" ]; then
  [ -s "$DATA/jwt-secret" ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DATA/jwt-secret")
  RESERVO_JWT_SECRET=$(cat "$DATA/jwt-secret")
  export RESERVO_JWT_SECRET
fi

if [ -z "${RESERVO_WEBHOOK_SECRET:-}" ]; then
  [ -s "$DATA/webhook-secret" ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DATA/webhook-secret")
  RESERVO_WEBHOOK_SECRET=$(cat "$DATA/webhook-secret")
  export RESERVO_WEBHOOK_SECRET
fi

echo "stack: building reservo" >&2
go build -o "$DATA/bin/reservo" ./cmd/reservo
"$DATA/bin/reservo" migrate 2>"$DATA/migrate.log" || { cat "$DATA/migrate.log" >&2; exit 1; }

addr=${RESERVO_HTTP_ADDR:-127.0.0.1:8080}
cat <<MSG

  Reservo is starting:
    API               http://$addr
    OpenAPI document  http://$addr/openapi.yaml  (JSON: /openapi.json)
    Health            http://$addr/healthz  http://$addr/readyz
    Operations        http://${RESERVO_METRICS_ADDR:-127.0.0.1:9101}/metrics  http://${RESERVO_METRICS_ADDR:-127.0.0.1:9101}/readyz (each dependency)
    Staff plane       $RESERVO_STAFF_PUBLIC_URL  (support staff sign in, then the Temporal Web UI, read only;
                      make an account staff: .data/bin/reservo ops grant-staff <e-mail> --reason '...')
    Temporal gRPC     $RESERVO_TEMPORAL_ADDR  (tokens only: .data/bin/reservo ops, or deploy/temporal-cli.sh)
    PostgreSQL        ${RESERVO_DATABASE_URL/:reservo@/:*****@}
    Redis             $RESERVO_REDIS_ADDR
    E-mail (SMTP)     $RESERVO_SMTP_ADDR, the local sink writes each message to $DATA/mail/
    Jaeger UI         ${RESERVO_JAEGER_URL:-(not run)}  (traces: service reservo; OTLP in: ${RESERVO_OTEL_ENDPOINT:-off})
$(if [ "${RESERVO_PROFILE:-local}" = scale ]; then cat <<SCALE
    Profile           scale: events through Kafka, search on Elasticsearch, archive on Cassandra
    PostgreSQL replica ${RESERVO_DATABASE_REPLICA_URL/:reservo@/:*****@}
    Kafka             $RESERVO_KAFKA_BROKERS  (topics: new_vendor, new_booking, booking_updated, ...)
    Elasticsearch     $RESERVO_ELASTIC_URL  (index alias reservo-vendors)
    Cassandra (CQL)   $RESERVO_CASSANDRA_HOSTS  (keyspace reservo)
SCALE
fi)

  Ctrl-C stops Reservo and the stack. Logs of the stack: $DATA/

MSG

"$DATA/bin/reservo" all &
pid=$!
stop() {
  trap - INT TERM
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  deploy/stack.sh down
}
trap stop INT TERM
wait "$pid" || true
stop
