# Reservo. `make run` starts the platform, `make test` runs every test; both set up what they need.
.PHONY: run stop test lint bench generate build status

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

lint: ## go vet and staticcheck
	go vet ./...
	cd deploy/temporal-dev && go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: ## the Go benchmarks and reservo bench (starts the stack when needed; a database of its own)
	@deploy/bench.sh

generate:
	go generate ./...
