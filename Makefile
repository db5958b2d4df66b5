# smtpscope — build, run, test. Two commands on a fresh Debian machine:
#   make run    the demo (temp data dir, bundled samples, in-process ACE sink, collector, TUI)
#   make test   every test (installs the Debian packages the tests need first)

GO        ?= go
BIN       := bin/smtpscope
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
# YARA is compiled in when libyara is installed (make deps installs it).
TAGS      := $(shell pkg-config --exists yara 2>/dev/null && echo yara)
GOFLAGS_T := -tags '$(TAGS)'
LDFLAGS   := -X main.version=$(VERSION)
APT_PKGS  := libyara-dev pkg-config swaks postfix tcpdump tmux python3-aiosmtpd ssdeep tlsh-tools
FUZZTIME  ?= 10s

.PHONY: all build run demo test test-only test-short bench bench-peers fuzz lint deps clean

all: build

# deps installs the Debian packages the tests and YARA need, only those
# missing (needs root or sudo; skipped quietly when apt-get is absent).
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null; then \
	    SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	    echo "installing:$$missing"; \
	    echo "postfix postfix/main_mailer_type select Local only" | $$SUDO debconf-set-selections; \
	    echo "postfix postfix/mailname string localhost" | $$SUDO debconf-set-selections; \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "apt-get not found; missing:$$missing (tests that need them will skip)"; fi; \
	fi
	$(GO) mod download

build:
	$(GO) build $(GOFLAGS_T) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/smtpscope

# The main job: the self-contained demo. Needs no configuration.
run: deps
	@$(MAKE) --no-print-directory build TAGS="$$(pkg-config --exists yara 2>/dev/null && echo yara)"
	./$(BIN) demo

demo: run

test: deps
	@$(MAKE) --no-print-directory test-only TAGS="$$(pkg-config --exists yara 2>/dev/null && echo yara)"

test-only:
	$(GO) vet $(GOFLAGS_T) ./...
	$(GO) test $(GOFLAGS_T) -timeout 25m ./...

test-short:
	$(GO) test $(GOFLAGS_T) -short ./...

# Benchmarks: speed and memory targets live here, not in timed tests.
bench: deps
	$(GO) test $(GOFLAGS_T) -run '^$$' -bench . -benchmem -timeout 60m ./...

# smtpscope side by side with its peers (Mailpit, the Python pipeline of
# ../shared/tools/peers, cp -r, tcpdump), interleaved, as one table with
# each target's PASS/FAIL (internal/peerbench). Mailpit is a benchmark peer
# only: built from the Go module proxy in a temp dir, outside this module,
# into bin/peers/. PEERS_MB sizes the corpus, PEERS_ROUNDS the rounds,
# PEERS_SEARCH_N > 0 adds search on a store of that many emails (slow),
# PEERS_ARGS passes more flags (go run ./internal/peerbench --help).
MAILPIT_VERSION ?= v1.33.1
MAILPIT_BIN     := bin/peers/mailpit-$(MAILPIT_VERSION)
PEERS_MB        ?= 60
PEERS_ROUNDS    ?= 3
PEERS_SEARCH_N  ?= 0
PEERS_ARGS      ?=

bench-peers: deps $(MAILPIT_BIN)
	@$(MAKE) --no-print-directory build TAGS="$$(pkg-config --exists yara 2>/dev/null && echo yara)"
	$(GO) run ./internal/peerbench --smtpscope $(BIN) --mailpit $(MAILPIT_BIN) --mailpit-version $(MAILPIT_VERSION) --mb $(PEERS_MB) \
	  --rounds $(PEERS_ROUNDS) --search-n $(PEERS_SEARCH_N) $(PEERS_ARGS)

$(MAILPIT_BIN):
	@mkdir -p $(@D); tmp=$$(mktemp -d); \
	echo "building Mailpit $(MAILPIT_VERSION) from the Go module proxy (a benchmark peer, not a dependency)"; \
	(cd $$tmp && GOFLAGS=-mod=mod GOBIN=$$tmp/bin $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)) \
	  && mv $$tmp/bin/mailpit $@; rc=$$?; rm -rf $$tmp; exit $$rc

# Short fuzzing of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test $(GOFLAGS_T) -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test $(GOFLAGS_T) -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) vet $(GOFLAGS_T) ./...
	@if $(GO) run $(STATICCHECK) -version >/dev/null 2>&1; then \
	  $(GO) run $(STATICCHECK) -tags '$(TAGS)' ./...; \
	else echo "staticcheck not available from the module proxy; go vet only"; fi

clean:
	rm -rf bin
