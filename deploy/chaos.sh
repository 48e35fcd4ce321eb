#!/usr/bin/env bash
# The fault suite's long version (make bench runs it; make test runs the short one): Reservo's
# API, worker and consumers as processes behind Toxiproxy while guests book, pay, change and
# cancel; every scenario (provider down for a minute, provider answering after 35 s, provider
# refusing requests, PostgreSQL connections reset, Redis down, Temporal's frontend down for 30 s,
# the worker and the API killed) twice, with twice the guests. It prints the faults injected,
# the operations tried and the invariant breaches (the target is none), and writes them to
# bench/results/<date>-chaos.json. See cmd/reservo/chaos_test.go.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
deploy/stack.sh up
eval "$(deploy/stack.sh env | sed 's/^/export /')"
out=${CHAOS_REPORT:-bench/results/$(date -u +%F)-chaos.json}
mkdir -p "$(dirname "$out")"
echo "== the fault suite, long version (about 25 minutes); figures to $out"
go test -count=1 -timeout 60m -run '^TestChaos_' ./cmd/reservo -chaos.long -chaos.report "$ROOT/$out" -v 2>&1 |
  grep -vE '^\[(serve|worker|consume)\]' | grep -E '^(=== RUN|--- |    |ok|FAIL|PASS)|fault suite' || true
cat "$out"
