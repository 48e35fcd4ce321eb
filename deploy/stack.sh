#!/usr/bin/env bash
# The local stack of Reservo on real engines, every piece on 127.0.0.1 with its data under
# .data/ of the checkout (git-ignored):
#   PostgreSQL  own cluster on RESERVO_PG_PORT (15432), from Debian's packages (installed when missing)
#   Redis       own instance on RESERVO_REDIS_PORT (16379), from Debian's packages
#   Temporal    deploy/temporal-dev (go.temporal.io/server + Web UI), gRPC 7233 (tokens required),
#               UI 8233 (for the staff plane only: reservo's RESERVO_STAFF_ADDR, 8243, signs staff in)
#   stripe-mock Stripe's API mock (deploy/stripe-mock.sh) on 12111, for the Stripe adapter's tests
#   mailsink    an SMTP server (deploy/mailsink) on 1025 that writes every message to .data/mail
#   jaeger      Jaeger v2 (deploy/jaeger.sh): OTLP 4317, UI and query API 16686, traces in .data/jaeger
#
#   deploy/stack.sh up       start what is not running (idempotent); prints the addresses
#   deploy/stack.sh down     stop what this script started
#   deploy/stack.sh status   say what runs
#   deploy/stack.sh env      print the RESERVO_* variables that point at this stack
#   deploy/stack.sh secrets  make the stack's keys once into .data (up does it too)
#   deploy/stack.sh temporal-2  a second node of the scale profile's Temporal cluster, in the
#                            foreground (make run PROFILE=scale runs it)
#
# RESERVO_STACK_SERVICES (default "postgres redis temporal stripe-mock mailsink jaeger") names the pieces to run here; drop
# one to use a server of your own and point RESERVO_DATABASE_URL, RESERVO_REDIS_ADDR or
# RESERVO_TEMPORAL_ADDR at it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${RESERVO_DATA_DIR:-$ROOT/.data}
PROFILE=${RESERVO_PROFILE:-local}
SCALE_SERVICES="pg-replica redis-cluster kafka elasticsearch cassandra"
if [ "$PROFILE" = scale ]; then
  SERVICES=${RESERVO_STACK_SERVICES:-postgres redis temporal stripe-mock mailsink jaeger $SCALE_SERVICES}
else
  SERVICES=${RESERVO_STACK_SERVICES:-postgres redis temporal stripe-mock mailsink jaeger}
fi
PG_PORT=${RESERVO_PG_PORT:-15432}
PG_REPLICA_PORT=${RESERVO_PG_REPLICA_PORT:-15433}
PG_USER=reservo
PG_PASSWORD=reservo # the local stack's throwaway password; never used outside 127.0.0.1
REDIS_PORT=${RESERVO_REDIS_PORT:-16379}
# The scale profile's Redis Cluster: three masters on these ports and the two after it (their
# cluster bus on each port + 10000), no replicas: one machine.
REDIS_CLUSTER_PORT=${RESERVO_REDIS_CLUSTER_PORT:-16391}
REDIS_CLUSTER_NODES=3
TEMPORAL_PORT=${TEMPORAL_DEV_PORT:-7233}
TEMPORAL_UI_PORT=${TEMPORAL_DEV_UI_PORT:-8233}
# The scale profile's Temporal is a cluster node (its services gossip on this port and the next
# four, below 32768), so that `make run`'s highly available shape adds a second one
# (deploy/stack.sh temporal-2); the local profile's runs alone (0).
if [ "$PROFILE" = scale ]; then
  TEMPORAL_MEMBERSHIP_PORT=${TEMPORAL_DEV_MEMBERSHIP_PORT:-7300}
else
  TEMPORAL_MEMBERSHIP_PORT=${TEMPORAL_DEV_MEMBERSHIP_PORT:-0}
fi
MAIL_PORT=${RESERVO_MAILSINK_PORT:-1025}
# Reservo's staff plane (reservo all / reservo staff), the only way in to the Web UI.
STAFF_URL=${RESERVO_STAFF_PUBLIC_URL:-http://127.0.0.1:8243}

log() { printf 'stack: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
has() { [[ " $SERVICES " == *" $1 "* ]]; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it yourself, or run as root)"; fi
}

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    as_root apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds what
  for _ in $(seq 1 $(($2 * 10))); do port_open "$1" && return 0; sleep 0.1; done
  die "$3 did not open port $1 within $2 s"
}

# stop_pid sends SIGTERM and waits up to 10 s for the process to go, then kills it.
stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# --- PostgreSQL -------------------------------------------------------------------------------

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
pg_run() {
  # From /, which the postgres user can always enter (the checkout may be closed to it).
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# pg_base is where the cluster lives: .data/ of the checkout, unless the checkout's parent
# folders are closed to the postgres user (a clone under /root, say); then a folder of its own
# under /var/tmp, named after the checkout.
pg_base() {
  mkdir -p "$DATA"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$DATA" 2>/dev/null; then
    echo "/var/tmp/reservo-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
  else
    echo "$DATA"
  fi
}

postgres_up() {
  local bin base pgdata
  base=$(pg_base)
  pgdata="$base/postgres"
  bin=$(pg_bin)
  if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
    apt_install postgresql postgresql-contrib
    bin=$(pg_bin)
  fi
  if port_open "$PG_PORT"; then
    log "postgres already listening on $PG_PORT"
    return
  fi
  mkdir -p "$base"
  [ "$base" = "$DATA" ] || log "the checkout is closed to the postgres user: its cluster lives in $base"
  if [ ! -s "$pgdata/PG_VERSION" ]; then
    log "initdb $pgdata"
    mkdir -p "$pgdata"
    local pw; pw=$(mktemp)
    printf '%s\n' "$PG_PASSWORD" >"$pw"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$pgdata" "$pw"; fi
    chmod 700 "$pgdata"
    pg_run "$bin/initdb" -D "$pgdata" -U "$PG_USER" --pwfile="$pw" --auth=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >"$base/postgres-initdb.log" 2>&1 || {
      rm -f "$pw"; cat "$base/postgres-initdb.log" >&2; die "initdb failed"; }
    rm -f "$pw"
  fi
  mkdir -p "$base/postgres-run"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$base/postgres-run"; touch "$base/postgres.log"; chown postgres: "$base/postgres.log"; fi
  log "starting postgres on 127.0.0.1:$PG_PORT"
  pg_run "$bin/pg_ctl" -D "$pgdata" -l "$base/postgres.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $base/postgres-run -c max_connections=300 -c shared_buffers=256MB -c max_slot_wal_keep_size=2GB" \
    >/dev/null || { tail -n 20 "$base/postgres.log" >&2; die "postgres did not start"; }
  # The product's database; tests make their own next to it.
  PGPASSWORD=$PG_PASSWORD "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAqc \
    "SELECT 1 FROM pg_database WHERE datname = 'reservo'" | grep -q 1 ||
    PGPASSWORD=$PG_PASSWORD "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" reservo
}

# --- PostgreSQL streaming replica (scale profile) ----------------------------------------------

# The replica is a base backup of the primary that streams its WAL (hot standby, read-only);
# the scale profile sends the reads that tolerate lag to it.
# primary_sql runs one statement on the primary and prints its result.
primary_sql() {
  PGPASSWORD=$PG_PASSWORD "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAqc "$1"
}

replica_up() {
  local bin base pgdata
  base=$(pg_base); pgdata="$base/pg-replica"; bin=$(pg_bin)
  if port_open "$PG_REPLICA_PORT"; then
    log "postgres replica already listening on $PG_REPLICA_PORT"
    return
  fi
  port_open "$PG_PORT" || die "the replica needs the primary on $PG_PORT"
  # The replica streams through a replication slot, so the primary keeps the WAL it has not
  # replayed while it is down, up to max_slot_wal_keep_size; past that (a big seed while the
  # replica was off) the slot is lost and the replica is made anew: it is a copy, nothing more.
  local slot
  slot=$(primary_sql "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'reservo_replica'")
  if [ -s "$pgdata/PG_VERSION" ] && { [ -z "$slot" ] || [ "$slot" = lost ]; }; then
    log "the replica is behind the WAL the primary kept; making it anew"
    rm -rf "$pgdata"
  fi
  if [ ! -s "$pgdata/PG_VERSION" ]; then
    log "pg_basebackup of the primary into $pgdata"
    [ -z "$slot" ] || primary_sql "SELECT pg_drop_replication_slot('reservo_replica')" >/dev/null
    rm -rf "$pgdata"; mkdir -p "$pgdata"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$pgdata"; fi
    chmod 700 "$pgdata"
    pg_run env PGPASSWORD="$PG_PASSWORD" "$bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" \
      -D "$pgdata" -R -C -S reservo_replica -X stream -c fast >"$base/pg-replica-basebackup.log" 2>&1 || {
      cat "$base/pg-replica-basebackup.log" >&2; rm -rf "$pgdata"; die "pg_basebackup failed"; }
  fi
  # A replica made when the primary listened elsewhere streams from its port: follow the primary.
  if [ -f "$pgdata/postgresql.auto.conf" ] && ! grep -q "port=$PG_PORT " "$pgdata/postgresql.auto.conf"; then
    log "pointing the replica at the primary's port $PG_PORT"
    sed -i -E "s/ port=[0-9]+ / port=$PG_PORT /" "$pgdata/postgresql.auto.conf"
  fi
  mkdir -p "$base/pg-replica-run"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$base/pg-replica-run"; touch "$base/pg-replica.log"; chown postgres: "$base/pg-replica.log"; fi
  log "starting postgres replica on 127.0.0.1:$PG_REPLICA_PORT"
  # max_connections must be at least the primary's on a hot standby.
  pg_run "$bin/pg_ctl" -D "$pgdata" -l "$base/pg-replica.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_REPLICA_PORT -k $base/pg-replica-run -c max_connections=300 -c shared_buffers=128MB -c hot_standby=on -c hot_standby_feedback=on" \
    >/dev/null || { tail -n 20 "$base/pg-replica.log" >&2; die "postgres replica did not start"; }
}

replica_down() {
  local bin base; bin=$(pg_bin); base=$(pg_base)
  [ -n "$bin" ] && [ -s "$base/pg-replica/postmaster.pid" ] || return 0
  log "stopping postgres replica"
  pg_run "$bin/pg_ctl" -D "$base/pg-replica" -m fast -w stop >/dev/null || true
}

postgres_down() {
  local bin base; bin=$(pg_bin); base=$(pg_base)
  [ -n "$bin" ] && [ -s "$base/postgres/postmaster.pid" ] || return 0
  log "stopping postgres"
  pg_run "$bin/pg_ctl" -D "$base/postgres" -m fast -w stop >/dev/null || true
}

# --- Redis ------------------------------------------------------------------------------------

redis_up() {
  command -v redis-server >/dev/null || apt_install redis-server
  if port_open "$REDIS_PORT"; then
    log "redis already listening on $REDIS_PORT"
    return
  fi
  mkdir -p "$DATA/redis"
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA/redis" --daemonize yes \
    --pidfile "$DATA/redis/redis.pid" --logfile "$DATA/redis/redis.log" \
    --appendonly yes --save "" --protected-mode yes
  wait_port "$REDIS_PORT" 10 redis
}

cluster_ports() { local i; for ((i = 0; i < REDIS_CLUSTER_NODES; i++)); do echo $((REDIS_CLUSTER_PORT + i)); done; }

cluster_addrs() { cluster_ports | sed 's/^/127.0.0.1:/' | paste -sd, -; }

cluster_ok() { redis-cli -p "$REDIS_CLUSTER_PORT" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

# redis_cluster_up starts the nodes, and makes them one cluster the first time (the slots are
# kept in each node's nodes.conf: a restart finds its cluster again).
redis_cluster_up() {
  command -v redis-server >/dev/null || apt_install redis-server
  local port dir started=
  for port in $(cluster_ports); do
    if port_open "$port"; then continue; fi
    dir="$DATA/redis-cluster/$port"
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 5000 --appendonly no --save "" --protected-mode yes
    started=1
  done
  for port in $(cluster_ports); do wait_port "$port" 10 "redis-cluster node $port"; done
  [ -n "$started" ] && log "redis cluster nodes on $(cluster_addrs)"
  if ! cluster_ok && [ "$(redis-cli -p "$REDIS_CLUSTER_PORT" cluster info 2>/dev/null | sed -n 's/^cluster_slots_assigned:\([0-9]*\).*/\1/p')" = 0 ]; then
    log "creating the redis cluster ($REDIS_CLUSTER_NODES masters)"
    # shellcheck disable=SC2046 # one word per node
    redis-cli --cluster create $(cluster_ports | sed 's/^/127.0.0.1:/') --cluster-replicas 0 --cluster-yes >"$DATA/redis-cluster/create.log" 2>&1 ||
      { cat "$DATA/redis-cluster/create.log" >&2; die "redis cluster create failed"; }
  fi
  local waited=0
  until cluster_ok; do
    [ "$waited" -lt 100 ] || die "the redis cluster is not ok after 20 s (logs in $DATA/redis-cluster/)"
    sleep 0.2
    waited=$((waited + 1))
  done
}

redis_cluster_down() {
  local port pidfile
  for port in $(cluster_ports); do
    pidfile="$DATA/redis-cluster/$port/redis.pid"
    [ -s "$pidfile" ] || continue
    stop_pid "$(cat "$pidfile")"
    rm -f "$pidfile"
  done
  [ -d "$DATA/redis-cluster" ] && log "stopped the redis cluster" || true
}

redis_down() {
  [ -s "$DATA/redis/redis.pid" ] || return 0
  log "stopping redis"
  stop_pid "$(cat "$DATA/redis/redis.pid")"
  rm -f "$DATA/redis/redis.pid"
}

# --- secrets of the local stack ----------------------------------------------------------------

# Made once into .data (git-ignored, mode 600) and kept, so that histories, tokens and staff
# sessions survive a restart; nothing secret is in the repository. Other places set the
# RESERVO_* variables from their own secret store (deploy/k8s).
#   temporal-auth.key      ES256 key that signs Reservo's tokens for the Temporal frontend
#   temporal-auth.pub.pem  its public key, which deploy/temporal-dev checks tokens with
#   payload-keys           the AES-256 key(s) of Temporal payload encryption, id:base64
#   staff-session-secret   the HMAC key of staff sign-ins
secrets_up() {
  mkdir -p "$DATA"
  if [ ! -s "$DATA/temporal-auth.key" ] || [ ! -s "$DATA/temporal-auth.pub.pem" ]; then
    command -v openssl >/dev/null || apt_install openssl
    log "generating the Temporal token signing key ($DATA/temporal-auth.key)"
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
      openssl pkcs8 -topk8 -nocrypt -outform DER | base64 -w0 >"$DATA/temporal-auth.key")
    base64 -d "$DATA/temporal-auth.key" | openssl pkey -inform DER -pubout >"$DATA/temporal-auth.pub.pem"
  fi
  if [ ! -s "$DATA/payload-keys" ]; then
    log "generating the payload encryption key ($DATA/payload-keys)"
    (umask 077 && printf 'local1:%s' "$(head -c 32 /dev/urandom | base64 -w0)" >"$DATA/payload-keys")
  fi
  if [ ! -s "$DATA/staff-session-secret" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DATA/staff-session-secret")
  fi
}

# --- Temporal ---------------------------------------------------------------------------------

temporal_bin="$DATA/bin/temporal-dev"

# The server takes minutes to build cold: build once, again only when its sources change.
temporal_build() {
  local src="$ROOT/deploy/temporal-dev" stamp
  stamp=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -d' ' -f1)
  if [ -x "$temporal_bin" ] && [ "$(cat "$temporal_bin.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  log "building the Temporal dev server (about 4 minutes the first time)"
  mkdir -p "$DATA/bin"
  (cd "$src" && go build -trimpath -ldflags='-s -w' -o "$temporal_bin.tmp" .)
  mv "$temporal_bin.tmp" "$temporal_bin"
  echo "$stamp" >"$temporal_bin.stamp"
}

temporal_up() {
  temporal_build
  if port_open "$TEMPORAL_PORT"; then
    log "temporal already listening on $TEMPORAL_PORT"
    return
  fi
  mkdir -p "$DATA/temporal"
  log "starting temporal on 127.0.0.1:$TEMPORAL_PORT (web UI :$TEMPORAL_UI_PORT)"
  : >"$DATA/temporal/temporal.log"
  rm -f "$DATA/temporal/temporal.pid"
  # setsid may fork: the shell it runs writes its own pid, then becomes the server (exec).
  # Tokens signed by the stack's key are required; the Web UI decodes through the staff plane.
  TEMPORAL_DEV_SQLITE_PATH="${TEMPORAL_DEV_SQLITE_PATH:-$DATA/temporal/temporal.db}" \
    TEMPORAL_DEV_PG_PORT="${TEMPORAL_DEV_PG_PORT:-$PG_PORT}" \
    TEMPORAL_DEV_MEMBERSHIP_PORT="$TEMPORAL_MEMBERSHIP_PORT" \
    TEMPORAL_DEV_AUTH_KEYS="${TEMPORAL_DEV_AUTH_KEYS:-$DATA/temporal-auth.pub.pem}" \
    TEMPORAL_DEV_CODEC_ENDPOINT="${TEMPORAL_DEV_CODEC_ENDPOINT:-$STAFF_URL/codec}" \
    setsid sh -c 'cd "$1" && echo $$ >"$2" && exec "$3" -config "$4"' _ \
    "$ROOT" "$DATA/temporal/temporal.pid" "$temporal_bin" "$ROOT/temporal-dev.yaml" \
    >>"$DATA/temporal/temporal.log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [ -s "$DATA/temporal/temporal.pid" ] && break; sleep 0.1; done
  # Ready when it has made sure of the namespace and the search attributes.
  for _ in $(seq 1 600); do
    grep -q '^temporal-dev: frontend' "$DATA/temporal/temporal.log" && return 0
    kill -0 "$(cat "$DATA/temporal/temporal.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 30 "$DATA/temporal/temporal.log" >&2
  die "temporal did not become ready"
}

# temporal_second runs, in the foreground, a second node of the stack's Temporal cluster (the
# scale profile's): every service, on the same PostgreSQL, found by the first through the
# membership table. Its frontend is on the stack's Temporal port + 20 (and the next four), its
# gossip on the membership port + 10, its Web UI on the UI port + 1; no metrics listener.
temporal_second() {
  [ "$TEMPORAL_MEMBERSHIP_PORT" != 0 ] || die "the stack's Temporal runs alone (TEMPORAL_DEV_MEMBERSHIP_PORT=0): it takes no second node"
  port_open "$TEMPORAL_PORT" || die "the stack's Temporal is not running (deploy/stack.sh up)"
  # A node started alone (static addresses) writes no membership: a second node beside it would
  # make a ring of its own and fight it for the history shards.
  local members
  members=$(PGPASSWORD=$PG_PASSWORD "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "${TEMPORAL_DEV_PG_DATABASE:-temporal}" -tAqc \
    "SELECT count(*) FROM cluster_membership WHERE rpc_port = $TEMPORAL_MEMBERSHIP_PORT AND last_heartbeat > (now() AT TIME ZONE 'UTC') - interval '1 minute'" 2>/dev/null || echo 0)
  [ "${members:-0}" != 0 ] || die "the stack's Temporal on $TEMPORAL_PORT is not a cluster node (started alone, or in the local profile): deploy/stack.sh down, then up with RESERVO_PROFILE=scale"
  temporal_build
  cd "$ROOT"
  TEMPORAL_DEV_PORT=$((TEMPORAL_PORT + 20)) TEMPORAL_DEV_INTERNAL_PORT=$((TEMPORAL_PORT + 24)) \
    TEMPORAL_DEV_MEMBERSHIP_PORT=$((TEMPORAL_MEMBERSHIP_PORT + 10)) TEMPORAL_DEV_UI_PORT=$((TEMPORAL_UI_PORT + 1)) \
    TEMPORAL_DEV_METRICS_PORT=0 \
    TEMPORAL_DEV_PG_PORT="${TEMPORAL_DEV_PG_PORT:-$PG_PORT}" \
    TEMPORAL_DEV_AUTH_KEYS="${TEMPORAL_DEV_AUTH_KEYS:-$DATA/temporal-auth.pub.pem}" \
    TEMPORAL_DEV_CODEC_ENDPOINT="${TEMPORAL_DEV_CODEC_ENDPOINT:-$STAFF_URL/codec}" \
    exec "$temporal_bin" -config "$ROOT/temporal-dev.yaml"
}

temporal_down() {
  [ -s "$DATA/temporal/temporal.pid" ] || return 0
  log "stopping temporal"
  stop_pid "$(cat "$DATA/temporal/temporal.pid")"
  rm -f "$DATA/temporal/temporal.pid"
}

# --- mail sink ---------------------------------------------------------------------------------

mailsink_up() {
  if port_open "$MAIL_PORT"; then
    log "mailsink already listening on $MAIL_PORT"
    return
  fi
  mkdir -p "$DATA/bin" "$DATA/mail"
  (cd "$ROOT" && go build -o "$DATA/bin/mailsink" ./deploy/mailsink)
  log "starting mailsink on 127.0.0.1:$MAIL_PORT (messages in $DATA/mail)"
  rm -f "$DATA/mailsink.pid"
  setsid sh -c 'echo $$ >"$1" && exec "$2" -addr "$3" -dir "$4"' _ \
    "$DATA/mailsink.pid" "$DATA/bin/mailsink" "127.0.0.1:$MAIL_PORT" "$DATA/mail" \
    >"$DATA/mailsink.log" 2>&1 </dev/null &
  wait_port "$MAIL_PORT" 10 mailsink
}

mailsink_down() {
  [ -s "$DATA/mailsink.pid" ] || return 0
  log "stopping mailsink"
  stop_pid "$(cat "$DATA/mailsink.pid")"
  rm -f "$DATA/mailsink.pid"
}

# --- commands ---------------------------------------------------------------------------------

print_env() {
  echo "RESERVO_DATABASE_URL=${RESERVO_DATABASE_URL:-postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/reservo?sslmode=disable}"
  echo "RESERVO_REDIS_ADDR=${RESERVO_REDIS_ADDR:-127.0.0.1:$REDIS_PORT}"
  echo "RESERVO_TEMPORAL_ADDR=${RESERVO_TEMPORAL_ADDR:-127.0.0.1:$TEMPORAL_PORT}"
  echo "RESERVO_STRIPE_MOCK_URL=${RESERVO_STRIPE_MOCK_URL:-http://127.0.0.1:${RESERVO_STRIPE_MOCK_PORT:-12111}}"
  echo "RESERVO_SMTP_ADDR=${RESERVO_SMTP_ADDR:-127.0.0.1:$MAIL_PORT}"
  echo "RESERVO_TEMPORAL_UI_URL=${RESERVO_TEMPORAL_UI_URL:-http://127.0.0.1:$TEMPORAL_UI_PORT}"
  if has temporal; then
    [ -s "$DATA/temporal-auth.key" ] && echo "RESERVO_TEMPORAL_AUTH_KEY=${RESERVO_TEMPORAL_AUTH_KEY:-$(cat "$DATA/temporal-auth.key")}"
    echo "RESERVO_STAFF_PUBLIC_URL=$STAFF_URL"
    [ -s "$DATA/payload-keys" ] && echo "RESERVO_PAYLOAD_KEYS=${RESERVO_PAYLOAD_KEYS:-$(cat "$DATA/payload-keys")}"
    [ -s "$DATA/staff-session-secret" ] && echo "RESERVO_STAFF_SESSION_SECRET=${RESERVO_STAFF_SESSION_SECRET:-$(cat "$DATA/staff-session-secret")}"
  fi
  if has redis-cluster; then
    echo "RESERVO_REDIS_CLUSTER_ADDRS=${RESERVO_REDIS_CLUSTER_ADDRS:-$(cluster_addrs)}"
  fi
  if has jaeger; then "$ROOT/deploy/jaeger.sh" env; fi
  if has pg-replica; then
    echo "RESERVO_DATABASE_REPLICA_URL=${RESERVO_DATABASE_REPLICA_URL:-postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_REPLICA_PORT/reservo?sslmode=disable}"
  fi
  local e
  for e in kafka elasticsearch cassandra; do has "$e" && "$ROOT/deploy/$e.sh" env; done
  return 0
}

# The JVM engines of the scale profile start side by side (each takes seconds to a minute).
scale_up() {
  local pids=() names=() e i failed=
  for e in kafka elasticsearch cassandra; do
    has "$e" || continue
    "$ROOT/deploy/$e.sh" up & pids+=($!); names+=("$e")
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || { log "${names[$i]} did not start"; failed=1; }; done
  [ -z "$failed" ] || die "the scale profile's engines did not all start"
}

cmd=${1:-up}
case "$cmd" in
up)
  has postgres && postgres_up
  has pg-replica && replica_up
  has redis && redis_up
  has redis-cluster && redis_cluster_up
  has temporal && secrets_up && temporal_up
  has stripe-mock && "$ROOT/deploy/stripe-mock.sh" up
  has mailsink && mailsink_up
  has jaeger && "$ROOT/deploy/jaeger.sh" up
  scale_up
  log "up ($PROFILE): $SERVICES"
  print_env | sed -E 's/^(RESERVO_(TEMPORAL_AUTH_KEY|PAYLOAD_KEYS|STAFF_SESSION_SECRET))=.*/\1=*****/; s/^/stack:   /' >&2
  ;;
down)
  for e in cassandra elasticsearch kafka; do [ -x "$ROOT/deploy/$e.sh" ] && { "$ROOT/deploy/$e.sh" down || true; }; done
  "$ROOT/deploy/jaeger.sh" down || true
  mailsink_down
  "$ROOT/deploy/stripe-mock.sh" down || true
  temporal_down
  redis_down
  redis_cluster_down
  replica_down
  postgres_down
  ;;
status)
  for p in "postgres:$PG_PORT" "pg-replica:$PG_REPLICA_PORT" "redis:$REDIS_PORT" "temporal:$TEMPORAL_PORT" "temporal-ui:$TEMPORAL_UI_PORT" \
    "stripe-mock:${RESERVO_STRIPE_MOCK_PORT:-12111}" "mailsink:$MAIL_PORT"; do
    if port_open "${p#*:}"; then echo "${p%%:*} up (${p#*:})"; else echo "${p%%:*} down (${p#*:})"; fi
  done
  "$ROOT/deploy/jaeger.sh" status || true
  if cluster_ok; then echo "redis-cluster up ($(cluster_addrs))"; else echo "redis-cluster down ($(cluster_addrs))"; fi
  for e in kafka elasticsearch cassandra; do if [ -x "$ROOT/deploy/$e.sh" ]; then "$ROOT/deploy/$e.sh" status || true; fi; done
  ;;
env) print_env ;;
build) temporal_build; "$ROOT/deploy/jaeger.sh" build ;;
temporal-path) temporal_build >&2 && echo "$temporal_bin" ;; # the HA suite runs a cluster of its own
temporal-2) temporal_second ;;
secrets) secrets_up && log "secrets in $DATA: temporal-auth.key, temporal-auth.pub.pem, payload-keys, staff-session-secret" ;;
*) die "usage: $0 up|down|status|env|build|temporal-path|temporal-2|secrets (RESERVO_PROFILE=scale adds $SCALE_SERVICES)" ;;
esac
