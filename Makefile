# Berth. `make run` serves on http://127.0.0.1:8080; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := build

export PATH := $(CURDIR)/tools/bin:$(PATH)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GO_TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: build run services-test test test-go fuzz test-e2e generate check-generated lint bench bench-audit bench-export bench-gc bench-pull bench-pull-signed bench-pull-trace bench-replication bench-s3 bench-scan bench-ui tools ui services clean

## build: bin/berth with the dashboard embedded
build: ui
	go build -ldflags "-X main.version=$(VERSION)" -o bin/berth ./cmd/berth

## ui: the dashboard, built into ui/dist (embedded by the Go build)
ui: ui/node_modules/.installed
	cd ui && npm run build

ui/node_modules/.installed: ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	touch $@

## run: build, make sure PostgreSQL is up, serve on http://127.0.0.1:8080 (migrates at start)
run: build services
	./bin/berth serve

services:
	scripts/services.sh

## services-test: PostgreSQL and Redis, both of which the tests need
services-test:
	scripts/services.sh --redis

## tools: the pinned clients, conformance suite and browser the tests use
tools:
	scripts/tools.sh

## test: every test: static checks, generated code up to date, Go tests, browser tests
test: tools services-test lint fuzz check-generated build test-go test-e2e

test-go:
	BERTH_REQUIRE_TOOLS=1 go test $(GO_TEST_FLAGS) ./...

test-e2e: build
	mkdir -p test-artifacts/e2e
	cd ui && BERTH_BIN=$(CURDIR)/bin/berth CRANE=$(CURDIR)/tools/bin/crane npm run e2e

## generate: ent client, GraphQL schema and executor, and a migration if the schema changed
generate:
	cd ent && go run -mod=mod entc.go
	go tool gqlgen generate
	go run ./migrations/gen schema

## check-generated: fail if generated code or migrations are stale
check-generated: services generate
	@if [ -n "$$(git status --porcelain -- ent graph migrations go.mod go.sum)" ]; then \
		git status --porcelain -- ent graph migrations go.mod go.sum; \
		echo "generated code is stale: run 'make generate' and commit the result" >&2; exit 1; fi

## fuzz: each fuzz target for a number of executions (seed corpora in each package's testdata/fuzz);
## a failing input is written there, to be fixed and committed as a seed. Budgets are counts, not
## durations: Go 1.26's fuzz coordinator can report a spurious "context deadline exceeded" when a
## duration ends while a worker is mid-call on a loaded machine (golang/go#75804, fixed in 1.27).
## FUZZSCALE multiplies every budget: `make fuzz FUZZSCALE=100` fuzzes a hundred times longer.
FUZZSCALE ?= 1
fuzz: services
	go test -run '^$$' -fuzz '^FuzzLayer$$' -fuzztime $$((60000 * $(FUZZSCALE)))x ./worker/scan/layer/
	go test -run '^$$' -fuzz '^FuzzGlob$$' -fuzztime $$((15000 * $(FUZZSCALE)))x ./worker/export/glob/
	go test -run '^$$' -fuzz '^FuzzParseManifest$$' -fuzztime $$((300000 * $(FUZZSCALE)))x ./registry/manifest/
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $$((50000 * $(FUZZSCALE)))x ./server/harborq/

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:" $$unformatted >&2; exit 1; fi
	go vet ./...

## bench: Go benchmarks (see docs/operations.md for the figures)
bench: services
	go test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin ui/dist/assets ui/dist/index.html test-artifacts

## bench-audit: pull cost of audit logging, ingest rate, purge of 10 million rows (issue figures)
bench-audit: services tools
	BERTH_BENCH=audit go test -run TestBenchAudit -count=1 -v -timeout 60m ./server/ 2>&1 | grep -E 'bench_audit_test|^(---|ok|FAIL|PASS)'

## bench-export: a CVE export of 1,000,000 rows against PostgreSQL's own COPY of the same query, and its peak heap growth
bench-export: services
	BERTH_BENCH=export go test -run TestBenchExport -count=1 -v -timeout 30m ./worker/export/ 2>&1 | grep -E 'bench_test|^(---|ok|FAIL|PASS)'

## bench-pull: warm manifest GETs at concurrency 50, 200, 1000: Berth with cache, without, and Distribution's own registry
bench-pull: services tools
	BERTH_BENCH=pull go test -run TestBenchPull -count=1 -v -timeout 10m ./server/ 2>&1 | grep -E 'bench_pull_test|^(---|ok|FAIL|PASS)'

## bench-pull-signed: the same warm manifest GETs, without and with "only verified images may be pulled", in one run
bench-pull-signed: services tools
	BERTH_BENCH=pull go test -run TestBenchPullSigned -count=1 -v -timeout 10m ./server/ 2>&1 | grep -E 'bench_pull_signed_test|^(---|ok|FAIL|PASS)'

## bench-pull-trace: the same warm manifest GETs with tracing off, sampling 10 % and sampling everything (OTLP to a discarding receiver)
bench-pull-trace: services tools
	BERTH_BENCH=pull BERTH_BENCH_PULL_TRACE=1 go test -run TestBenchPull -count=1 -v -timeout 10m ./server/ 2>&1 | grep -E 'bench_pull_trace_test|^(---|ok|FAIL|PASS)'

## bench-scan: built-in scanner, an image with 2,000 packages against 100,000 advisories (issue figures)
bench-scan: services tools
	BERTH_BENCH=scan go test -run TestBenchScan -count=1 -v -timeout 20m ./server/ 2>&1 | grep -E 'bench_scan_test|^(---|ok|FAIL|PASS)'

## bench-ui: how long each dashboard page takes to render in Chromium on a project with 10,000 artifacts
bench-ui: build services tools
	mkdir -p test-artifacts/e2e
	cd ui && BERTH_BIN=$(CURDIR)/bin/berth CRANE=$(CURDIR)/tools/bin/crane npx playwright test -c e2e/bench.config.ts

## bench-replication: push replication (200 small images, one 1 GiB image) against crane copy; proxy-cache cold/warm pulls and 100 concurrent cold pulls
bench-replication: services tools
	BERTH_BENCH=replication go test -run 'TestBenchReplication|TestBenchProxyCache' -count=1 -v -timeout 60m ./server/ 2>&1 | grep -E 'bench_(replication|proxy)_test|^(---|ok|FAIL|PASS)'

## bench-s3: blob push/pull through Berth vs straight to SeaweedFS's S3 API, GC blobs/s on S3, bytes through Berth with redirects
bench-s3: services tools
	BERTH_BENCH=s3 go test -run TestBenchS3 -count=1 -v -timeout 20m ./server/ 2>&1 | grep -E 'bench_s3_test|^(---|ok|FAIL|PASS)'

## bench-gc: mark and sweep of 100,000 unreferenced blobs on filesystem storage, 1 and 8 workers
bench-gc: services
	BERTH_BENCH=gc BERTH_BENCH_GC_BLOBS=$${BERTH_BENCH_GC_BLOBS:-100000} go test -run TestBenchGC -count=1 -v -timeout 20m ./worker/gc/ 2>&1 | grep -E 'bench_gc_test|^(---|ok|FAIL|PASS)'
