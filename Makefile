# smtpscope — build, run, test. Two commands on a fresh Debian machine:
#   make run    the demo (temp data dir, bundled samples, in-process ACE sink, collector, TUI);
#               installs only libyara-dev and pkg-config (YARA), none with YARA=0
#   make test   every test (installs the Debian packages the tests need first),
#               then a list of the skipped tests and why

GO        ?= go
BIN       := bin/smtpscope
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
# YARA is compiled in when libyara is installed (make deps installs it).
TAGS      := $(shell pkg-config --exists yara 2>/dev/null && echo yara)
GOFLAGS_T := -tags '$(TAGS)'
LDFLAGS   := -X main.version=$(VERSION)
# The demo needs only YARA's (optional: YARA=0 installs nothing); the rest
# are for the tests (real MTAs, captures, the TUI in tmux, peer tools).
YARA      ?= 1
APT_RUN   := $(if $(filter 1,$(YARA)),libyara-dev pkg-config)
APT_TEST  := swaks postfix tcpdump tmux python3-aiosmtpd ssdeep tlsh-tools tcpreplay
APT_PKGS  := libyara-dev pkg-config $(APT_TEST)
FUZZTIME  ?= 10s

.PHONY: all build run demo test test-only test-short soak bench bench-capture bench-peers fuzz lint deps deps-run apt-install clean

all: build

# deps installs the Debian packages the tests and YARA need, deps-run only
# what the demo needs; only those missing (needs root or sudo; skipped with
# a message when apt-get is absent). Each says what it installs and why.
deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(APT_PKGS)" WHY="YARA and the tests need"
	$(GO) mod download

deps-run:
	@$(MAKE) --no-print-directory apt-install PKGS="$(APT_RUN)" WHY="the demo needs (YARA; YARA=0 skips them)"
	$(GO) mod download

apt-install:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then \
	  echo "Debian packages $(WHY):$(if $(strip $(PKGS)), all installed ($(strip $(PKGS))), none needed)"; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  echo "installing Debian packages $(WHY):$$missing"; \
	  case " $$missing " in *" postfix "*) \
	    echo "postfix postfix/main_mailer_type select Local only" | $$SUDO debconf-set-selections; \
	    echo "postfix postfix/mailname string localhost" | $$SUDO debconf-set-selections;; esac; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "apt-get not found; missing Debian packages $(WHY):$$missing (what needs them is skipped or built without)"; fi

build:
	$(GO) build $(GOFLAGS_T) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/smtpscope

# The main job: the self-contained demo. Needs no configuration.
run: deps-run
	@$(MAKE) --no-print-directory build TAGS="$$(pkg-config --exists yara 2>/dev/null && echo yara)"
	./$(BIN) demo

demo: run

test: deps
	@$(MAKE) --no-print-directory test-only TAGS="$$(pkg-config --exists yara 2>/dev/null && echo yara)"

# The tests' output is what plain go test prints, then "skipped: N tests"
# with each skip's reason (internal/testsummary); the exit status is go
# test's.
test-only:
	$(GO) vet $(GOFLAGS_T) ./...
	$(GO) build -o bin/testsummary ./internal/testsummary
	./bin/testsummary $(GO) test $(GOFLAGS_T) -json -timeout 25m ./...

test-short:
	$(GO) test $(GOFLAGS_T) -short ./...

# The long soak (README "The soak: make soak"): three nats-server processes
# as a JetStream cluster (built from the module in go.mod), three sensors
# and a hub, 500 emails per sensor while 25 seeded SIGKILLs hit servers,
# sensors and the hub; then the whole cluster down for 30 s. make test runs
# the same tests small (40 emails, 6 kills, 10 s). SOAK_SEED replays a
# kill schedule (the seed is printed).
SOAK_SEED ?=
soak:
	SMTPSCOPE_SOAK=long SMTPSCOPE_SOAK_OUTAGE=30 SMTPSCOPE_SOAK_SEED=$(SOAK_SEED) \
	  $(GO) test $(GOFLAGS_T) -count=1 -v -timeout 60m -run '^TestSoak' ./cmd/smtpscope

# Benchmarks: speed and memory targets live here, not in timed tests.
bench: deps
	$(GO) test $(GOFLAGS_T) -run '^$$' -bench . -benchmem -timeout 60m ./...

# The live capture's load test (root): a veth pair, one end in a network
# namespace, tcpreplay at rising rates into it, smtpscope's capture on the
# other end; it logs kernel drops and sessions written per rate.
bench-capture: deps
	SMTPSCOPE_BENCH_CAPTURE=1 $(GO) test $(GOFLAGS_T) -count=1 -run '^TestCaptureLoad$$' -v -timeout 20m ./collector/capture

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
