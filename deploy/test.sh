#!/usr/bin/env bash
# make test: bring up the local stack when it is not up, run every test of the product against
# it (with the race detector), then the fuzz targets for a short budget each. A stack that this
# script started is stopped again at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

FUZZTIME=${FUZZTIME:-15s}
# The suite covers both profiles: the scale profile's engines (replica, Kafka, Elasticsearch,
# Cassandra) run too.
export RESERVO_PROFILE=scale

started=
status=$(deploy/stack.sh status) # not piped into grep -q: with pipefail, SIGPIPE would hide "down"
if [[ "$status" == *" down "* ]]; then started=1; fi
cleanup() { if [ -n "$started" ] && [ -z "${KEEP_STACK:-}" ]; then deploy/stack.sh down; fi; }
trap cleanup EXIT

deploy/stack.sh up
eval "$(deploy/stack.sh env | sed 's/^/export /')"

echo "== go vet"
go vet ./...
(cd deploy/temporal-dev && go vet ./... && go test -count=1 ./...)

echo "== deploy files (compose's own loader, Kubernetes API types)"
(cd deploy/check && go vet ./... && go test -count=1 ./...)

echo "== go test -race ./... (but kafka, the fault suite and the high-availability suite)"
# The kafka package's outage test stops and starts the broker: it runs alone, after the rest.
# So do the fault suite and the high-availability suite, whose answers are timed: without the
# race detector, after the rest.
go test -race -count=1 -timeout 20m -skip '^(TestChaos_|TestHA_)' $(go list ./... | grep -v '/kafka$')
echo "== go test -race ./kafka"
go test -race -count=1 -timeout 10m ./kafka
echo "== the fault suite, short version (cmd/reservo TestChaos_*; deploy/chaos.sh runs the long one)"
go test -count=1 -timeout 20m -run '^TestChaos_' ./cmd/reservo

echo "== the high-availability suite (cmd/reservo TestHA_*: two of each process behind HAProxy, each kind killed in turn; deploy/ha.sh in make bench)"
deploy/haproxy.sh path >/dev/null
go test -count=1 -timeout 15m -run '^TestHA_' ./cmd/reservo

echo "== the API contract: Schemathesis against the OpenAPI document (a guest, a manager, staff, anonymous)"
# Without the race detector: a few minutes, most of them Schemathesis generating cases.
RESERVO_SCHEMATHESIS=$(deploy/schemathesis.sh path)
export RESERVO_SCHEMATHESIS
go test -count=1 -parallel 4 -timeout 20m -run '^TestContract_SchemathesisFindsNothing$' ./api

echo "== fuzz (${FUZZTIME} each)"
go test -run '^$' -fuzz '^FuzzCreateUser$' -fuzztime "$FUZZTIME" ./api
go test -run '^$' -fuzz '^FuzzCreateVendor$' -fuzztime "$FUZZTIME" ./api
go test -run '^$' -fuzz '^FuzzCreateItinerary$' -fuzztime "$FUZZTIME" ./api
