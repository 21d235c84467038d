# Gatehouse — two commands on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export NODE_OPTIONS ?= --no-warnings=ExperimentalWarning

NODE_MODULES := node_modules/.installed
BIN := node_modules/.bin

help:
	@echo "make run       start Gatehouse on 127.0.0.1:8000 (embedded default: SQLite, dev identity, demo purutos, manifest, agent runtime)"
	@echo "make test      install, check generated/ is fresh, type-check, unit + contract tests"
	@echo "make lint      Biome lint (biome.jsonc);  make format: Biome format --write"
	@echo "make lint-contract  Spectral (OAS, AsyncAPI, OWASP) and Redocly lint of the contract (part of make test)"
	@echo "make generate  spec/ → generated/ (OpenAPI, types, message schemas, typed clients), then the console"
	@echo "make build-console  the operator console (console/) → console/dist, served at /console"
	@echo "make mock      Prism mock of the REST API on :4010 (+ WebSocket mock on :4011)"
	@echo "make docs      render the published spec to dist/docs/{rest,websocket}.html (offline; served at /docs)"
	@echo "make build     bundle the server and CLI into dist/ (then: npm ci --omit=dev && npm start)"
	@echo "make fuzz      seeded schema-derived fuzzer over every REST operation (FUZZ_REQUESTS=20000, FUZZ_SEED=10)"
	@echo "make adversarial  the hostile-input suite of issue 10 alone (every *adversarial* test file; also part of make test)"
	@echo "make cluster   two nodes (:8081, :8082) behind HAProxy on 127.0.0.1:8080, on PostgreSQL + Redis (deploy/cluster)"
	@echo "make bench     benchmarks: Gatehouse vs bare node:http and bare Koa in the same run"

# Install exactly what package-lock.json says, once (and again when it changes).
$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES)

generate: $(NODE_MODULES)
	$(BIN)/tsx src/codegen/generate.ts
	@# node_modules is already up to date here: the inner make must not reinstall it (it does not inherit a caller's -o).
	@$(MAKE) --no-print-directory -o $(NODE_MODULES) build-console

# The operator console: TypeScript + Preact over the generated typed client, bundled by esbuild into static
# assets (console/dist, not committed). Rebuilt when its sources or the generated client change.
CONSOLE_SOURCES := $(shell find console/src -type f 2>/dev/null) console/index.html console/build.ts console/tsconfig.json
build-console: console/dist/app.js

console/dist/app.js: $(NODE_MODULES) $(CONSOLE_SOURCES) generated/client.ts generated/api-types.ts
	$(BIN)/tsx console/build.ts

# CI fails if generated/ is not exactly what the spec produces.
check-generated: generate
	@if [ -n "$$(git status --porcelain -- generated)" ]; then \
	  echo "generated/ is stale or hand-edited; run 'make generate' and commit:"; \
	  git status --porcelain -- generated; git --no-pager diff --stat -- generated; exit 1; \
	else echo "generated/ is fresh"; fi

typecheck: $(NODE_MODULES)
	$(BIN)/tsc --noEmit -p tsconfig.json
	$(BIN)/tsc --noEmit -p console/tsconfig.json

# The memory test measures the gateway's RSS under hostile prompts: it runs after the others, with the machine to
# itself. Alone its peak measured 24-55 MiB (6 runs); beside them on 2 cores it once reached 66 (bound 64): how soon
# V8 collects the dead 950 KB prompts depends on the CPU it gets, so the neighbours' load was measured with it.
# The others run two files at a time (TEST_WORKERS; vitest's default is one on 2 cores): most of them wait on sockets,
# child processes and timers, not on the CPU. Measured on 2 cores busy with other work: 691 s for the 4,064 tests
# with 2, where one worker took about 1,000 s on a quiet machine.
MEMORY_TEST := contract-tests/adversarial/memory.test.ts
TEST_WORKERS ?= 2
test: $(NODE_MODULES) check-generated lint-contract typecheck lint format-check build-console
	$(BIN)/vitest run --config contract-tests/vitest.config.ts --maxWorkers=$(TEST_WORKERS) --exclude $(MEMORY_TEST)
	$(BIN)/vitest run --config contract-tests/vitest.config.ts $(MEMORY_TEST)

# Issue 10's adversarial suite on its own (it runs in `make test` too): every test file with "adversarial" in its
# path, so that its wall time can be read off one run. Files run in parallel (ADVERSARIAL_WORKERS, default 2;
# vitest's own default is one worker on a 2-core machine): most of them wait on child processes, timers and
# sockets, and the memory test alone keeps the gateway it measures busy for most of the run.
ADVERSARIAL_WORKERS ?= 2
adversarial: $(NODE_MODULES)
	$(BIN)/vitest run --config contract-tests/vitest.config.ts --maxWorkers=$(ADVERSARIAL_WORKERS) $$(find src contract-tests -path '*adversarial*' -name '*.test.ts' | sort)

# The contract's own lint, offline: Spectral (spectral:oas, spectral:asyncapi and the OWASP API Security ruleset;
# .spectral.yaml says why each rule it turns off is off) and Redocly's recommended rules (redocly.yaml). Both
# resolve their rulesets from node_modules; Redocly's telemetry and update check are off. Errors fail.
CONTRACT := generated/openapi.json spec/sessions.asyncapi.yaml
lint-contract: $(NODE_MODULES)
	$(BIN)/spectral lint --fail-severity=error --display-only-failures --format=text $(CONTRACT)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(BIN)/redocly lint --config redocly.yaml --format=stylish $(CONTRACT)

# Biome (biome.jsonc): lint rules and import order; `make format` rewrites files, `format-check` only reports.
lint: $(NODE_MODULES)
	$(BIN)/biome lint .

format: $(NODE_MODULES)
	$(BIN)/biome format --write .

format-check: $(NODE_MODULES)
	$(BIN)/biome format .

# The embedded default. Any variable may be overridden: `PORT=9000 make run`. The API key, unless given, is the data
# folder's own random one (deploy/dev-api-key.sh: made on first run, printed in the banner), never a public one.
# `node --import tsx`, not the tsx CLI: the CLI is a wrapper process, and killing it (SIGKILL) orphaned the gateway
# under it; this way the process make starts is the gateway itself (and its runtime child dies with it).
run: $(NODE_MODULES) build-console
	@PURUTO_GATEWAY_API_KEY="$${PURUTO_GATEWAY_API_KEY:-$$(deploy/dev-api-key.sh "$${GATEHOUSE_DATA_DIR:-.data}")}" \
	 GATEHOUSE_ECOSYSTEM_ROOT="$${GATEHOUSE_ECOSYSTEM_ROOT:-$(CURDIR)/examples/ecosystem}" \
	 PURUTO_DATA_PATH="$${PURUTO_DATA_PATH-$(CURDIR)/examples/ecosystem/puruto-data}" \
	 GATEHOUSE_EXTRA_COMMANDS="$${GATEHOUSE_EXTRA_COMMANDS-puruto-financial:balance}" \
	 GATEHOUSE_MANIFEST_DIR="$${GATEHOUSE_MANIFEST_DIR:-$(CURDIR)/examples/manifests}" \
	 GATEHOUSE_EMBEDDED_RUNTIME="$${GATEHOUSE_EMBEDDED_RUNTIME:-1}" \
	 exec node --import tsx src/main.ts

# Production build: dist/main.js (server) and dist/cli.js (the gatehouse command), run with plain node.
build: $(NODE_MODULES) build-console
	$(BIN)/tsx deploy/build.ts

# The README's configuration table, from the schema in src/config.ts.
readme-config: $(NODE_MODULES)
	$(BIN)/tsx deploy/readme-config.ts
# Two nodes behind HAProxy on the machine's PostgreSQL and Redis; HAProxy is installed when missing.
# See README "Running several nodes".
cluster: $(NODE_MODULES)
	@deploy/cluster/run.sh

mock: $(NODE_MODULES)
	$(BIN)/tsx contract-tests/mock.ts

# The published spec as two self-contained HTML pages that work offline (no CDN, no telemetry): dist/docs/
# rest.html and websocket.html, also served by Gatehouse at /docs and /docs/websocket (deploy/docs.ts).
docs: $(NODE_MODULES)
	$(BIN)/tsx deploy/docs.ts

# HTTP lines vs bare node:http / Koa (BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_ONLY=<line substring>): autocannon,
# and wrk for the key lines (installed with apt-get when missing and possible; BENCH_WRK=0 leaves it out);
# p50/p99/p99.9, the target's event-loop delay, longest GC pause and CPU per request; state-growth lines; the goals
# of issue #17; the key lines again on other Node majors (BENCH_NODE_MAJORS, BENCH_NODE_<major>; one found nowhere is
# installed from the npm registry under .tmp/, BENCH_NODE_INSTALL=0: not).
# Targets run from an esbuild bundle made as `make build` makes dist/ (bench/bundle.ts), as production runs.
# Evaluate and /purutos are also compared with a bare Koa app doing the same exchange (read its request, send its
# answer): the ceiling of their goals on Koa.
# Then the sessions relay: added latency and RSS per idle session (BENCH_WS_SESSIONS, default 10000;
# BENCH_WS_ROUND_TRIPS). Profile one line with `npx tsx bench/profile.ts <line substring> [seconds]`. Then shadow
# replay: recorded actions decided again per second (BENCH_REPLAY_ACTIONS, default 20000; goal ≥ 10,000/s).
bench: $(NODE_MODULES)
	$(BIN)/tsx bench/run.ts
	$(BIN)/tsx bench/sessions.ts
	$(BIN)/tsx bench/replay.ts

.PHONY: help install generate build-console check-generated typecheck lint lint-contract format-check format test adversarial run build readme-config cluster mock docs bench fuzz
# Every operation of generated/openapi.json with schema-derived and hostile requests against a fresh Gatehouse:
# prints the status histogram and every 5xx with a curl repro; fails on any 5xx or any 4xx that is not problem+json.
fuzz: $(NODE_MODULES)
	LOG_LEVEL=silent $(BIN)/tsx contract-tests/fuzz/run.ts

