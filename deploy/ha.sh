#!/usr/bin/env bash
# The high-availability suite (make bench runs it with 16 guests; make test with 8): the scale
# profile with two API processes behind HAProxy (deploy/haproxy.sh installs it from Debian's
# packages), two Temporal workers and two consumer processes on a Temporal cluster of two
# servers of its own, while guests book, pay, change and cancel through the load balancer; one
# API process, one worker, each consumer process (the Kafka relay's holder) and one Temporal
# server in turn killed with SIGKILL and started again 10 s later. It prints, for
# each kill, the requests failed in the 10 s after it and after them, and the time until the
# guests' throughput was back, checks that nothing was lost, doubled or oversold, and writes the
# figures to bench/results/<date>-ha.json. See cmd/reservo/ha_test.go. HA_RUN picks the kills
# (go test -run), e.g. HA_RUN='^TestHA_EachProcessKilledUnderLoad$/^temporal-2$' for the
# Temporal server's alone (about 2 minutes).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export RESERVO_PROFILE=scale
deploy/stack.sh up
eval "$(deploy/stack.sh env | sed 's/^/export /')"
deploy/haproxy.sh path >/dev/null
out=${HA_REPORT:-bench/results/$(date -u +%F)-ha.json}
mkdir -p "$(dirname "$out")"
echo "== the high-availability suite (about 4 minutes); figures to $out"
go test -count=1 -timeout 30m -run "${HA_RUN:-^TestHA_}" ./cmd/reservo -ha.guests "${HA_GUESTS:-16}" -ha.report "$ROOT/$out" -v 2>&1 |
  grep -vE '^\[(serve|worker|consume|temporal)-[0-9]\]' | grep -E '^(=== RUN|--- |    |ok|FAIL|PASS)|high-availability' || true
cat "$out"
