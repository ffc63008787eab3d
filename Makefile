# Two commands matter: `make run` (the portal with a local database, mail
# catcher and demo accounts) and `make test` (every check and test).

# go.mod pins a patched toolchain (go1.26.11); let the go command fetch it even
# where the machine's default is GOTOOLCHAIN=local.
export GOTOOLCHAIN := auto
GO ?= go
SHELL := /bin/bash
SOURCES := cmd app web internal templates static migrations e2e faults

.PHONY: run test test-faults check lint generate build build-hsm clean-dev screenshots

## run: start the portal for development at http://localhost:8080
run:
	@mkdir -p .dev
	@$(GO) build -o .dev/portal ./cmd/portal
	@PORTAL_DATABASE_URL="$${PORTAL_DATABASE_URL:-$$(scripts/postgres.sh portal_dev)}" ./.dev/portal dev

## test: formatting, vet, generated-code freshness, then every test against a real PostgreSQL
# The browser journeys run verbosely, filtered to their names, durations and
# failures, so the output lists each journey and how long it took.
test: check lint
	@set -o pipefail; export PORTAL_TEST_DATABASE_URL="$${PORTAL_TEST_DATABASE_URL:-$$(scripts/postgres.sh)}"; \
		$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v -e /e2e$$ -e /faults$$) && \
		$(GO) test -race -count=1 -timeout 30m -v ./e2e/ 2>&1 | grep -E --line-buffered 'journey .* took|^(---|ok|FAIL|panic)|_test.go:[0-9]+:|^\s+(---|\S+_test.go)'
	@$(MAKE) --no-print-directory test-faults

## test-faults: the fault tests (faults/): the real portal built from ./cmd/portal,
## killed with SIGKILL mid-work and restarted; each prints what it did and verified.
## The portal under test gets PORTAL_JOB_RESCUE_AFTER=6s (default 2m) so the
## jobs the killed process left running are taken up again within seconds.
test-faults:
	@set -o pipefail; export PORTAL_TEST_DATABASE_URL="$${PORTAL_TEST_DATABASE_URL:-$$(scripts/postgres.sh)}"; \
		$(GO) test -count=1 -timeout 12m -v ./faults/ 2>&1 | grep -E --line-buffered '^(---|ok|FAIL|panic)|_test.go:[0-9]+:|^\s+---'

## fuzz: every fuzz target in the repository, FUZZTIME each (default 30s), one
## after another. Targets are found per package with `go test -list '^Fuzz'`, so
## new ones are picked up. Each line says what ran and how much; a failure does
## not stop the rest: its input is saved as testdata/fuzz/<target>/<hash> in the
## package (keep it, renamed, as a regression seed) and make fails at the end.
## `go test ./...` (so `make test`) replays every committed seed.
FUZZTIME ?= 30s
.PHONY: fuzz
fuzz:
	@set -o pipefail; trap 'echo "fuzz: interrupted"; exit 130' INT; \
	module=$$($(GO) list -m); \
	targets=$$($(GO) test -list '^Fuzz' ./... | awk ' \
		/^Fuzz[A-Za-z0-9_]*$$/ { names = names " " $$1; next } \
		/^(ok|\?) / { n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2, a[i]; names = "" }') \
		|| { echo "fuzz: could not list the fuzz targets (go test -list '^Fuzz' ./... failed)"; exit 1; }; \
	if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets found"; exit 1; fi; \
	echo "fuzz: $$(wc -l <<<"$$targets") targets, $(FUZZTIME) each"; \
	ran=(); failed=(); \
	while read -r pkg target; do \
		short=$${pkg#$$module/}; \
		out=$$($(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg" </dev/null 2>&1); rc=$$?; \
		stats=$$(grep -E '^fuzz: elapsed' <<<"$$out" | tail -n 1 | sed -E 's/^fuzz: elapsed: ([^,]*), execs: ([0-9]+).*new interesting: ([0-9]+).*/\1, \2 execs, \3 new inputs/'); \
		if [ $$rc -eq 0 ]; then echo "fuzz: ok   $$short $$target ($$stats)"; \
		else echo "fuzz: FAIL $$short $$target"; tail -n 40 <<<"$$out" | sed 's/^/    /'; failed+=("$$short $$target"); fi; \
		ran+=("$$short $$target"); \
	done <<<"$$targets"; \
	echo "fuzz: ran $${#ran[@]} targets for $(FUZZTIME) each, $${#failed[@]} failed"; \
	for f in "$${failed[@]}"; do echo "fuzz: failed: $$f"; done; \
	[ $${#failed[@]} -eq 0 ]

## screenshots: run the browser journeys (e2e/) and save every page they visit,
## at 1280x900 and at a 390x844 phone viewport, as PNGs in screenshots/ (not committed)
screenshots:
	@rm -rf screenshots && mkdir -p screenshots
	PORTAL_TEST_DATABASE_URL="$${PORTAL_TEST_DATABASE_URL:-$$(scripts/postgres.sh)}" SCREENSHOTS_DIR="$(CURDIR)/screenshots" \
		$(GO) test -count=1 -timeout 10m ./e2e/
	@echo "screenshots: $$(ls screenshots | wc -l) PNGs in screenshots/"

## check: gofmt, go vet, and committed *_templ.go files equal to a fresh `templ generate`
check:
	@unformatted=$$(gofmt -l $(SOURCES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@before=$$(find templates -name '*_templ.go' -exec sha256sum {} + | sort); \
	$(GO) tool templ generate >/dev/null 2>&1 || { $(GO) tool templ generate; exit 1; }; \
	after=$$(find templates -name '*_templ.go' -exec sha256sum {} + | sort); \
	if [ "$$before" != "$$after" ]; then echo "templ generate changed generated files (now regenerated; review and commit them):"; \
		diff <(echo "$$before") <(echo "$$after") | grep '^[<>]' | awk '{print $$3}' | sort -u; exit 1; fi

## lint: staticcheck (every package, tests included), then govulncheck against an
## offline copy of the Go vulnerability database (scripts/vulncheck.sh). Both are
## pinned and run through `go run`, so nothing needs installing; the first run
## downloads and builds them (a few minutes), later runs take about a minute.
STATICCHECK_VERSION := v0.8.2
lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@scripts/vulncheck.sh

## generate: regenerate templ components after editing *.templ
generate:
	$(GO) tool templ generate

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/portal ./cmd/portal

## build-hsm: the same with cgo, which PORTAL_KEK_PROVIDER=pkcs11 needs to load
## the HSM's PKCS#11 module (links against the C library; needs gcc).
build-hsm:
	CGO_ENABLED=1 $(GO) build -trimpath -o bin/portal ./cmd/portal

## bench: the load tool's short run (issue 12, docs/PERFORMANCE.md): builds the
## portal and cmd/loadgen, recreates the portal_bench database, migrates, seeds
## BENCH_MESSAGES (10k), serves the real portal on loopback with a mail sink,
## measures every page alone (1 and 32 clients), sign-in, replies and the mix for
## BENCH_TIME each, and prints one table with the in-process floors. Under 5 min.
## BENCH_PROFILE=DIR also writes a CPU profile of the portal for each run there;
## BENCH_ONLY=inbox (thread, staff, signin, reply, mix, notify) measures only that.
## BENCH_KEEP=DIR keeps the keyring there and the database: the next bench with
## the same DIR and BENCH_MESSAGES measures it again without seeding (a 1M seed
## takes about 8 minutes here; before/after pairs then take one each).
BENCH_MESSAGES ?= 10000
BENCH_TIME ?= 5s
.PHONY: bench
bench:
	@mkdir -p .dev/bench
	@$(GO) build -o .dev/bench/portal ./cmd/portal
	@$(GO) build -o .dev/bench/loadgen ./cmd/loadgen
	@PORTAL_BENCH_SERVER_URL="$${PORTAL_BENCH_SERVER_URL:-$$(scripts/postgres.sh)}" \
		./.dev/bench/loadgen bench -portal ./.dev/bench/portal -messages $(BENCH_MESSAGES) -d $(BENCH_TIME) $(if $(BENCH_PROFILE),-profile $(BENCH_PROFILE)) $(if $(BENCH_ONLY),-only $(BENCH_ONLY)) $(if $(BENCH_KEEP),-keep $(BENCH_KEEP))

## bench-search: issue 14's search benchmark: recreates the portal_search_bench
## database, seeds SEARCH_THREADS (50,000) threads of five messages in one team,
## and prints p50/p95 of each kind of search beside its decryption floor.
SEARCH_THREADS ?= 50000
.PHONY: bench-search
bench-search:
	@mkdir -p .dev/bench
	@$(GO) build -o .dev/bench/portal ./cmd/portal
	@$(GO) build -o .dev/bench/loadgen ./cmd/loadgen
	@PORTAL_BENCH_SERVER_URL="$${PORTAL_BENCH_SERVER_URL:-$$(scripts/postgres.sh)}" \
		./.dev/bench/loadgen search-bench -portal ./.dev/bench/portal -threads $(SEARCH_THREADS) -runs 5
