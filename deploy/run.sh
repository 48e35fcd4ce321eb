#!/usr/bin/env bash
# make run: bring up the local stack, build and migrate, then run Reservo in the foreground:
# `reservo all` in the local profile; in the scale profile the highly available shape, as in
# deploy/k8s: two `reservo serve` behind HAProxy (Debian's, deploy/haproxy.sh; /readyz checked
# every half second), two `reservo worker`, two `reservo consume` and `reservo staff`, on a
# Temporal cluster of two servers (RESERVO_RUN_SHAPE=all: one `reservo all` there too). Ctrl-C
# stops Reservo and the stack it started.
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
shape=${RESERVO_RUN_SHAPE:-}
if [ -z "$shape" ]; then
  if [ "${RESERVO_PROFILE:-local}" = scale ]; then shape=ha; else shape=all; fi
fi
ops_note=
if [ "$shape" = ha ]; then ops_note=" (this shape: one per process, below)"; fi
cat <<MSG

  Reservo is starting:
    API               http://$addr
    OpenAPI document  http://$addr/openapi.yaml  (JSON: /openapi.json)
    Health            http://$addr/healthz  http://$addr/readyz
    Operations        http://${RESERVO_METRICS_ADDR:-127.0.0.1:9101}/metrics  http://${RESERVO_METRICS_ADDR:-127.0.0.1:9101}/readyz (each dependency)$ops_note
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

pids=()
stopped=
stop() {
  trap - INT TERM
  [ -z "$stopped" ] || return 0 # once: from the trap, or at the end of the script
  stopped=1
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  deploy/stack.sh down
}
trap stop INT TERM

if [ "$shape" = ha ]; then
  # The highly available shape: each process its own operations listener, the API processes
  # behind HAProxy on the API's address. Logs: $DATA/run/<process>.log.
  mkdir -p "$DATA/run"
  host=${addr%:*}
  port=${addr##*:}
  ops=${RESERVO_METRICS_ADDR:-127.0.0.1:9101}
  ops_port=${ops##*:}
  haproxy=$(deploy/haproxy.sh path)
  # In the scale profile Temporal is a cluster of two: the stack's server and a second node
  # (deploy/stack.sh temporal-2), Reservo's processes reaching either through HAProxy (TCP, a
  # connection check every half second) on the stack's Temporal port + 30.
  temporal_front=
  if [ "${RESERVO_PROFILE:-local}" = scale ]; then
    t_host=${RESERVO_TEMPORAL_ADDR%:*}
    t_port=${RESERVO_TEMPORAL_ADDR##*:}
    temporal_front=$t_host:$((t_port + 30))
    deploy/stack.sh temporal-2 >"$DATA/run/temporal-2.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 1200); do
      grep -q '^temporal-dev: frontend' "$DATA/run/temporal-2.log" && break
      kill -0 "${pids[-1]}" 2>/dev/null || { tail -n 20 "$DATA/run/temporal-2.log" >&2; echo "run: the second Temporal node did not start" >&2; stop; exit 1; }
      sleep 0.1
    done
  fi
  front=("$addr" "$host:$((port + 1)),$host:$((port + 2))")
  if [ -n "$temporal_front" ]; then
    front+=("$temporal_front" "$RESERVO_TEMPORAL_ADDR,$t_host:$((t_port + 20))")
    export RESERVO_TEMPORAL_ADDR=$temporal_front
  fi
  deploy/haproxy.sh config "${front[@]}" >"$DATA/run/haproxy.cfg"
  "$haproxy" -f "$DATA/run/haproxy.cfg" -db >"$DATA/run/haproxy.log" 2>&1 &
  pids+=($!)
  n=0
  for proc in serve-1 serve-2 worker-1 worker-2 consume-1 consume-2 staff; do
    n=$((n + 1))
    api=$addr # only serve-1 and serve-2 listen on theirs
    case $proc in serve-1) api=$host:$((port + 1)) ;; serve-2) api=$host:$((port + 2)) ;; esac
    RESERVO_HTTP_ADDR=$api RESERVO_METRICS_ADDR=127.0.0.1:$((ops_port + n)) \
      "$DATA/bin/reservo" "${proc%-*}" >"$DATA/run/$proc.log" 2>&1 &
    pids+=($!)
  done
  cat <<MSG
  Highly available shape: HAProxy on $addr in front of serve-1 ($host:$((port + 1))) and serve-2
  ($host:$((port + 2))); worker-1, worker-2, consume-1, consume-2 and staff. Operations listeners
  on 127.0.0.1:$((ops_port + 1)) to 127.0.0.1:$((ops_port + 7)), in that order. Logs: $DATA/run/.
MSG
  if [ -n "$temporal_front" ]; then
    cat <<MSG
  Temporal: a cluster of two, the stack's server and temporal-2 (frontend $t_host:$((t_port + 20))),
  behind HAProxy on $temporal_front, which Reservo's processes dial.
MSG
  fi
  echo
  # Reservo runs until Ctrl-C, or until every process has stopped.
  wait "${pids[@]}" || true
else
  "$DATA/bin/reservo" all &
  pids+=($!)
  wait "${pids[@]}" || true
fi
stop
