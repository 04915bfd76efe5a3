# Nostr Signer: one-command set-up on a fresh Debian/Ubuntu machine.
#   make run    install what is missing, build, start the signer
#   make test   install what is missing, build, run every test tier
#   make bench  release build, then the benchmarks; writes their section of docs/performance.md and the plots (~9 min)

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Swift lives in /opt/swift on our machines; use it when it is not already on PATH.
ifeq ($(shell command -v swift 2>/dev/null),)
  ifneq ($(wildcard /opt/swift/usr/bin/swift),)
    export PATH := /opt/swift/usr/bin:$(PATH)
  endif
endif

SWIFT_BUILD_FLAGS ?=
SIGNER_DEBUG := .build/debug/signer
SIGNER_RELEASE := .build/release/signer

.PHONY: help deps venv build build-release build-bench run test test-swift test-interop test-packaging-release bench bench-crypto bench-nip46 bench-http clean

help:
	@echo "make run     install missing packages, build, start the signer"
	@echo "make test    install missing packages and the Python peers, build, run every test tier"
	@echo "make bench   release build, crypto limits, load scenarios, scale and cluster figures; rewrites docs/performance.md's make bench section"

deps:
	@bash tools/install-system-deps.sh

venv: deps
	@bash tools/setup-venv.sh

build: deps
	swift build $(SWIFT_BUILD_FLAGS)

# What the Dockerfile ships: the Swift runtime linked in statically.
build-release: deps
	swift build -c release --product signer --static-swift-stdlib $(SWIFT_BUILD_FLAGS)

# The daemon on the embedded default (SQLite and a KEK file in ./signer-data, port 8080); SIGNER_* configure it.
run: build
	exec $(SIGNER_DEBUG) serve

# The tiers run against PostgreSQL and the KMS mock started on 127.0.0.1 by tools/test-services.sh (the cluster tests start their own redis-server processes);
# they are stopped afterwards whatever the outcome, and the tiers' exit status is kept.
test: venv
	swift build --build-tests $(SWIFT_BUILD_FLAGS)
	@env_lines=$$(bash tools/test-services.sh start) || { bash tools/test-services.sh stop; exit 1; }; \
	eval "$$env_lines"; \
	status=0; $(MAKE) --no-print-directory test-swift test-interop || status=$$?; \
	bash tools/test-services.sh stop; exit $$status

test-swift:
	swift test --skip-build

test-interop:
	SIGNER_BIN=$(SIGNER_DEBUG) .venv/bin/python -m pytest -q Tests/interop --ignore=Tests/interop/test_packaging_release.py

# The container packaging without a Docker engine, on a release build as the Dockerfile makes it (`make test` checks
# the debug build's C libraries; this adds the statically linked Swift runtime). CI runs it after `make test`.
test-packaging-release: build-release venv
	SIGNER_RELEASE_BIN=$(SIGNER_RELEASE) .venv/bin/python -m pytest -q Tests/interop/test_packaging_release.py

# The signer and the load generator, built as the Dockerfile builds the signer (so the two share their objects).
build-bench: deps
	swift build -c release --product signer --static-swift-stdlib $(SWIFT_BUILD_FLAGS)
	swift build -c release --product loadgen --static-swift-stdlib $(SWIFT_BUILD_FLAGS)

# The crypto limits, every loadgen scenario against the release server (SQLite) and LocalRelay, the scale figures on
# stores seeded with 100,000 and 1,000,000 authorizations, and 1-3 instances as a cluster (PostgreSQL, redis-server);
# rewrites the generated section of docs/performance.md, docs/bench/results.json and the plots (matplotlib, in .venv).
# BENCH_STORE=postgres runs the scenarios and the scale figures on PostgreSQL; BENCH_SKIP=scale,cluster leaves those out.
bench: build-bench venv
	@.venv/bin/python -c 'import matplotlib' 2>/dev/null || .venv/bin/pip install --quiet -r tools/requirements-bench.txt
	.venv/bin/python tools/bench/bench.py

# One core, as the figures in docs/performance.md are per core.
bench-crypto: build-release
	taskset -c 0 $(SIGNER_RELEASE) bench crypto --iterations 20000

# NIP-46 end to end through rust-nostr's LocalRelay (without its default rate limit) on a free loopback port.
bench-nip46: build-release venv
	@port=$$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	.venv/bin/python Tests/interop/peers/local_relay.py $$port --unlimited > /dev/null & relay=$$!; \
	sleep 2; status=0; $(SIGNER_RELEASE) bench nip46 --relay ws://127.0.0.1:$$port --relay-pid $$relay --requests 5760 --apps 64 || status=$$?; \
	kill $$relay; exit $$status

clean:
	bash tools/test-services.sh stop
	rm -rf .build .venv .build-services

# The HTTP RPC under wrk (64 connections, sign_event with one token), next to plain libsecp256k1 in the same run.
bench-http: build-release
	bash tools/bench/http-bench.sh
