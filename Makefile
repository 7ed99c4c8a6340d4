# relaycast — build, run and test.
#
#   make run     build the web UI (if npm is present) and run `relaycast serve`
#   make test    the full test suite (scripts/test.sh; installs missing tools as root)
#
# Variables: RUN_FLAGS (extra serve flags, e.g. RUN_FLAGS=--ice-loopback),
# VERSION (stamped into the binary), IMAGE (docker image name).

SHELL      := bash
GO         ?= go
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X main.version=$(VERSION)
RUN_FLAGS  ?=
IMAGE      ?= relaycast:$(VERSION)
FUZZTIME   ?= 30s
FUZZEXECS  ?= 1000000

.PHONY: all build web run test test-short fuzz fuzz-long docker clean help

all: build

help:
	@awk '/^#/ { sub(/^# ?/, ""); print; next } { exit }' Makefile
	@echo "targets: build web run test test-short fuzz fuzz-long docker clean"

## web: build the browser UI into web/dist (skipped when there is no UI or no npm).
## npm ci only runs when node_modules is missing or older than package-lock.json.
web:
	@if [ -f web/ui/package.json ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    cd web/ui && \
	    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci; fi && \
	    npm run build; \
	  else \
	    echo "make web: npm not found; serving the UI already in web/dist (if any)" >&2; \
	  fi; \
	fi

## build: web UI + static binary bin/relaycast
build: web
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/relaycast ./cmd/relaycast

## run: serve with defaults (http://localhost:8080); add flags with RUN_FLAGS=...
run: web
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/relaycast serve $(RUN_FLAGS)

## test: everything — tool install, UI build, vet, all tests, short fuzzing
test:
	bash scripts/test.sh

## test-short: quick unit tests only (heavy tests skip under -short)
test-short:
	$(GO) test -short ./...

## fuzz: run every fuzz target for FUZZTIME (default 30s)
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## fuzz-long: every fuzz target for FUZZEXECS executions (default 1,000,000) on one worker;
## report in docs/reports/fuzz-<date>/ (FUZZ_TARGETS="FuzzX ./pkg:FuzzY" picks targets)
fuzz-long:
	bash scripts/fuzz.sh --long $(FUZZEXECS) $(FUZZ_TARGETS)

## docker: build the container image
docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf bin
