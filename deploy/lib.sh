# Shared by the engine scripts (stripe-mock.sh, kafka.sh, elasticsearch.sh, cassandra.sh). A
# script sets NAME (for its log lines), PORT, PIDFILE and MATCH (a grep pattern of its process's
# command line, so that a reused pid is never taken for it), then sources this file.

log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { log "$*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running_pid prints the pid of the process this script started, if it still runs.
running_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$MATCH" || return 1
  echo "$pid"
}

# stop_started sends SIGTERM to the process this script started and waits up to $1 seconds for
# it to finish its own shutdown, then kills it. A server on the port that this script did not
# start is left alone.
stop_started() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    port_open "$PORT" && log "127.0.0.1:$PORT is served by a process this script did not start; left alone"
    return 0
  fi
  log "stopping (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 $(($1 * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "still running after $1 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}
