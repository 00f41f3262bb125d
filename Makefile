# Fletch. DuckDB's Arrow interface needs the duckdb_arrow build tag.
GO        ?= go
TAGS      := duckdb_arrow
BIN       := bin/fletch
PYTHON    ?= python3
MVN       ?= mvn
# Maven at warn level except Surefire, so a green run still prints "Tests run: N, ...".
MVN_QUIET := -B -ntp -Dstyle.color=never -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
             -Dorg.slf4j.simpleLogger.log.org.apache.maven.plugin.surefire=info
# `make run` serves DATA_DIR on ADDR: from the command line (make run ADDR=127.0.0.1:9000
# DATA_DIR=/tmp/d), else from FLETCH_ADDR / FLETCH_DATA_DIR as `fletch serve` reads them.
DATA_DIR  ?= $(or $(FLETCH_DATA_DIR),./fletch-data)
ADDR      ?= $(or $(FLETCH_ADDR),127.0.0.1:8181)

.PHONY: build ui run test test-go test-e2e test-grafana test-java test-fresh-clone fuzz bench bench-e2e loadtest fmt vet clean

build:
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/fletch

# The web console's bundle (console/dist, embedded in the binary and committed, so `make
# build` needs no Node): npm ci with the locked packages, then esbuild. The e2e suite fails
# when the committed bundle is not what this builds.
ui:
	cd console && npm ci --no-audit --no-fund && npm run build

# Loopback only and without auth: a development server, not a deployment.
run: build
	./$(BIN) serve --data-dir $(DATA_DIR) --addr $(ADDR) --without-auth

test: test-go test-e2e test-grafana test-java

test-go:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -count=1 ./...

test-e2e: build
	FLETCH_BIN=$(CURDIR)/$(BIN) $(PYTHON) -m pytest -c tests/e2e/pytest.ini tests/e2e

# The Grafana Flight SQL datasource's calls, in Go against the built binary.
test-grafana: build
	FLETCH_BIN=$(CURDIR)/$(BIN) $(GO) test -tags $(TAGS) -count=1 ./tests/grafana

# The Arrow Flight SQL JDBC driver (DBeaver, Tableau) against the real binary.
test-java: build
	cd clients/java && $(MVN) $(MVN_QUIET) -Dfletch.bin=$(CURDIR)/$(BIN) test

# What a user's `git clone` meets: HEAD cloned into an empty temporary directory (nothing
# beside it, so no test can lean on a file outside the repository), then the whole of
# .ci/run there. .ci/run calls this after `make test`; FLETCH_FRESH_CLONE stops the
# clone's own run from cloning again.
test-fresh-clone:
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	git clone -q "$(CURDIR)" "$$dir/fletch"; \
	echo "== fresh clone of $$(git rev-parse --short HEAD) in $$dir/fletch"; \
	cd "$$dir/fletch" && FLETCH_FRESH_CLONE=1 CI=true bash .ci/run

# Fuzz targets, as package:Target. `go test` (test-go) already runs each one's seed corpus
# and its testdata/fuzz inputs (the crashes fuzzing found, kept as regression tests), so
# `make test` runs no fuzzing of its own; `make fuzz` searches for new inputs, FUZZTIME
# per target. A crash stops it and leaves the input in the package's testdata/fuzz.
FUZZTIME  ?= 30s
FUZZ_TARGETS := \
	./ingest/lineprotocol:FuzzParse \
	./ingest:FuzzNormalizeArrow \
	./ingest:FuzzArrowStream \
	./internal/ipccheck:FuzzStream \
	./storage:FuzzDecodeWriteRecord \
	./storage:FuzzDecodeDropRecord \
	./storage:FuzzDecodeDeleteRecord \
	./storage/wal:FuzzWALSegment \
	./server:FuzzJSONTicket

# -fuzzminimizetime: Go spends up to 60 s minimizing every new input by default, which on
# these large cgo binaries is most of a short run.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) \
			-fuzzminimizetime 5s $$pkg; \
	done

# The side-by-side benchmark (docs/benchmarks.md): Go micro-benchmarks, then bench/run.py,
# which measures Fletch, DuckDB on a Parquet file and QuestDB, and rewrites the generated
# section of docs/benchmarks.md. Python packages: pip install -r bench/requirements.txt
# (installed by hand, never here). The QuestDB jar comes from Maven Central once; if that
# fails, bench/run.py still measures Fletch and DuckDB and says why QuestDB is missing.
QUESTDB_VERSION ?= 9.3.4
QUESTDB_JAR     := bench/.cache/questdb-$(QUESTDB_VERSION).jar

# bench/run.py goes first: it waits (up to 5 min) for a quiet machine before it starts.
bench: build
	@test -f $(QUESTDB_JAR) || $(MVN) -q -B -ntp dependency:copy \
		-Dartifact=org.questdb:questdb:$(QUESTDB_VERSION) -DoutputDirectory=bench/.cache \
		|| echo "bench: could not fetch org.questdb:questdb:$(QUESTDB_VERSION); QuestDB will be skipped"
	FLETCH_BIN=$(CURDIR)/$(BIN) $(PYTHON) bench/run.py --questdb-jar $(QUESTDB_JAR)
	FLETCH_BIN=$(CURDIR)/$(BIN) $(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...

# A bounded load test (LOADTEST_SECONDS, default 600): concurrent line-protocol and DoPut
# writers and Flight SQL readers; reports rates, p50/p99 latency, errors, peak memory.
loadtest: build
	FLETCH_BIN=$(CURDIR)/$(BIN) $(PYTHON) bench/loadtest.py

# Benchmarks against the real binary (TSBS data): materialized view upkeep.
bench-e2e: build
	FLETCH_BIN=$(CURDIR)/$(BIN) $(PYTHON) bench/matview_ingest.py

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin clients/java/target
