# Reservo. `make run` starts the platform, `make test` runs every test; both set up what they need.
.PHONY: run stop test lint bench generate build status cli cli-test drill

PROFILE ?= local

run: ## start the stack and reservo all (PROFILE=scale: on Kafka, Elasticsearch, Cassandra, a replica); prints the URLs; Ctrl-C stops everything
	@RESERVO_PROFILE=$(PROFILE) deploy/run.sh

stop: ## stop a stack left running (every engine, both profiles)
	@deploy/stack.sh down

status: ## what of the stack runs
	@deploy/stack.sh status

test: ## the whole suite against the real engines (starts the stack when needed)
	@deploy/test.sh

build: ## the reservo binary in .data/bin
	go build -o .data/bin/reservo ./cmd/reservo

lint: ## go vet and staticcheck (the CLI test's build tag included)
	go vet ./...
	go vet -tags clitest ./cmd/reservo
	cd deploy/temporal-dev && go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags clitest ./cmd/reservo

bench: ## the Go benchmarks, reservo bench (a database of its own), the fault suite's long version and the high-availability suite (starts the stack when needed)
	@deploy/bench.sh
	@deploy/chaos.sh
	@deploy/ha.sh

generate:
	go generate ./...

cli: ## the official Temporal CLI (v1.5.1) into .data/bin, once (about 9 minutes cold); staff run it with deploy/temporal-cli.sh
	@deploy/temporal-cli.sh build

cli-test: cli ## the Temporal CLI against the stack as staff: list, count, describe, stack, show decoded, reset (not in make test: it needs make cli)
	@deploy/stack.sh up && eval "$$(deploy/stack.sh env | sed 's/^/export /')" && go test -tags clitest -count=1 -run TestTemporalCLI -v ./cmd/reservo

drill: ## the support drill: a booking stuck in each way, found and fixed with reservo ops, timed (also part of make test)
	@deploy/stack.sh up && eval "$$(deploy/stack.sh env | sed 's/^/export /')" && go test -count=1 -run TestDrill -v ./cmd/reservo
