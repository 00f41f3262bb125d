# Fletch. DuckDB's Arrow interface needs the duckdb_arrow build tag.
GO        ?= go
TAGS      := duckdb_arrow
BIN       := bin/fletch
PYTHON    ?= python3
DATA_DIR  ?= ./fletch-data
ADDR      ?= 127.0.0.1:8181

.PHONY: build run test test-go test-e2e bench fmt vet clean

build:
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/fletch

# Loopback only and without auth: a development server, not a deployment.
run: build
	./$(BIN) serve --data-dir $(DATA_DIR) --addr $(ADDR) --without-auth

test: test-go test-e2e

test-go:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -count=1 ./...

test-e2e: build
	FLETCH_BIN=$(CURDIR)/$(BIN) $(PYTHON) -m pytest -c tests/e2e/pytest.ini tests/e2e

bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
