# Every target does its own set-up: Node 24 and pnpm 10 into .tools/ when the system Node is older,
# Chromium when missing, dependencies, build.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS)/node_modules/.bin:$(PATH)
export CURBMAP_DATA_DIR ?= $(CURDIR)/data
FROZEN := $(if $(CI),--frozen-lockfile,)

.PHONY: all toolchain chromium postgres kafka-libs ferretdb seaweedfs compose-loadcheck kafka gdal schemathesis-tool schemathesis install build typecheck test up up-distributed bench soak replay clean

all: build

## Node 24 + pnpm 10 when what is on PATH is older or missing (about 10 s, npm registry only).
toolchain:
	@if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null \
	   || ! pnpm --version 2>/dev/null | grep -q '^10\.'; then \
	  echo "make: installing Node 24 and pnpm 10 into .tools/ (system node: $$(node -v 2>/dev/null || echo none))"; \
	  npm install --prefix "$(TOOLS)" --no-fund --no-audit --loglevel=error node@24 pnpm@10 >/dev/null; \
	fi
	@echo "make: node $$(node -v), pnpm $$(pnpm -v)"

## Chromium renders invoice PDFs (puppeteer-core). PUPPETEER_EXECUTABLE_PATH wins, then common paths, then apt.
chromium:
	@if [ -n "$${PUPPETEER_EXECUTABLE_PATH:-}" ] && [ -x "$${PUPPETEER_EXECUTABLE_PATH}" ]; then exit 0; fi; \
	for b in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome /usr/bin/google-chrome-stable; do [ -x "$$b" ] && exit 0; done; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "make: installing Chromium from Debian (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
	    || echo "make: apt-get could not install chromium; PDF rendering will be unavailable"; \
	else \
	  echo "make: no Chromium found. Install it (Debian: sudo apt-get install chromium) or set PUPPETEER_EXECUTABLE_PATH."; \
	fi

## PostgreSQL (Debian's) for the distributed mode's adapters: their tests start private clusters of their own
## (initdb on a free port, as the postgres user), never a system service. Missing and not installable: they skip.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing PostgreSQL from Debian (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null) \
	      || echo "make: apt-get could not install postgresql; the PostgreSQL suites skip"; \
	  else \
	    echo "make: PostgreSQL is not installed; the PostgreSQL suites skip (Debian: sudo apt-get install postgresql)"; \
	  fi; \
	fi

## The Apache Kafka broker from Maven Central (infra/kafka/pom.xml) into .tools/kafka/libs, for Java 17+.
## Without Java or Maven the Kafka suites skip, saying why.
kafka-libs:
	@if [ -f .tools/kafka/libs/kafka_2.13-$$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' infra/kafka/pom.xml).jar ]; then exit 0; fi; \
	if command -v java >/dev/null && command -v mvn >/dev/null; then \
	  echo "make: fetching the Kafka broker from Maven Central into .tools/kafka/libs"; rm -rf .tools/kafka/libs; \
	  mvn -B -q -f infra/kafka/pom.xml org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
	    -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.tools/kafka/libs \
	    || echo "make: could not fetch the Kafka broker; the Kafka suites skip"; \
	else \
	  echo "make: no Java or Maven here; the Kafka suites skip"; \
	fi

## FerretDB (the MongoDB wire protocol on SQLite) built from the Go module proxy into .tools/ferretdb: the MongoDB
## read-model suites and the workflow on it start private servers of their own. Without Go they skip, saying why.
ferretdb:
	@infra/go/build-module.sh .tools/ferretdb/ferretdb github.com/FerretDB/FerretDB v1.24.2 ./cmd/ferretdb build/version/version.txt=v1.24.2

## SeaweedFS (an S3-compatible server) built from the Go module proxy into .tools/seaweedfs: the S3 artifact suite
## starts a private server of its own. About 5 minutes the first time; without Go the suite skips, saying why.
seaweedfs:
	@infra/go/build-module.sh .tools/seaweedfs/weed github.com/seaweedfs/seaweedfs v0.0.0-20261109003541-7506e5f91cd6 ./weed

## Docker Compose's own loader (compose-spec/compose-go, Go module proxy) as a small program into .tools/compose:
## make test loads docker-compose.yml with it (no Docker engine here).
compose-loadcheck:
	@infra/compose/build.sh .tools/compose

## A single-node broker on loopback until Ctrl-C; it prints KAFKA_BROKERS.
kafka: kafka-libs install
	node infra/kafka/broker.ts

## Schemathesis (PyPI) into .tools/venv, pinned: make test checks the served OpenAPI document with it.
SCHEMATHESIS_VERSION := 4.32.5
schemathesis-tool:
	@if ! .tools/venv/bin/schemathesis --version 2>/dev/null | grep -q ' $(SCHEMATHESIS_VERSION)$$'; then \
	  echo "make: installing Schemathesis $(SCHEMATHESIS_VERSION) into .tools/venv"; \
	  rm -rf .tools/venv; \
	  if ! python3 -m venv .tools/venv >/dev/null 2>&1 && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    rm -rf .tools/venv; echo "make: installing python3-venv from Debian (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; \
	    python3 -m venv .tools/venv; \
	  fi; \
	  .tools/venv/bin/pip install -q --disable-pip-version-check 'schemathesis==$(SCHEMATHESIS_VERSION)' || { rm -rf .tools/venv; exit 1; }; \
	fi

## The API as its document says: the platform from sources, Schemathesis with its default checks (infra/schemathesis).
schemathesis: schemathesis-tool install
	node infra/schemathesis/run.ts

install: toolchain
	@pnpm install $(FROZEN) --reporter=append-only --config.confirmModulesPurge=false | tail -n 3

build: install
	pnpm exec tsc -b tsconfig.build.json
	pnpm --filter @curbmap/gateway run build:web

typecheck: install
	pnpm exec tsc -p tsconfig.json
	pnpm exec tsc -p services/gateway/web

## The README's test command: frozen install, type-check (tests included), build, the API against its document
## (Schemathesis, its pytest-style rules dropped), then every test (last, so a log ends with the closing line "tests: N passed, N failed",
## infra/vitest/closingLine.ts; in CI without the colour codes vitest turns on when CI is set).
test: FROZEN := --frozen-lockfile
test: chromium postgres kafka-libs ferretdb seaweedfs compose-loadcheck schemathesis-tool install
	pnpm exec tsc -p tsconfig.json
	pnpm exec tsc -p services/gateway/web
	pnpm exec tsc -b tsconfig.build.json
	pnpm --filter @curbmap/gateway run build:web
	node infra/schemathesis/run.ts
	$(if $(CI),NO_COLOR=1 )pnpm exec vitest run

## The command is package.json's `up` script (its Node flags included); the benchmarks start the same.
up: chromium build
	CURBMAP_SEED_DEMO=$${CURBMAP_SEED_DEMO:-true} pnpm run --silent up

## Distributed mode on this machine: PostgreSQL, the Kafka broker and the gateway and four services as separate
## processes (restarted when they die); data under data-distributed/ unless CURBMAP_DATA_DIR says otherwise.
## USAGE_PROCESSES=3 (likewise BILLING_, EXPORT_, INVOICE_PROCESSES; 1 to 9) runs a service in several processes.
up-distributed: chromium postgres kafka-libs ferretdb seaweedfs build
	CURBMAP_DATA_DIR=$${CURBMAP_DISTRIBUTED_DATA_DIR:-$(CURDIR)/data-distributed} node infra/distributed/up.ts

## ogr2ogr (Debian's gdal-bin) is the baseline of the export benchmark.
gdal:
	@if [ ! -x /usr/bin/ogr2ogr ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "make: installing gdal-bin (ogr2ogr, the export benchmark's baseline)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdal-bin >/dev/null) \
	    || echo "make: apt-get could not install gdal-bin; the export benchmark runs without its baseline"; \
	fi

bench: build gdal
	node bench/run.ts

## Simulated years of business with kill -9 along the way, then every invariant (docs/architecture/simulation.md):
## SEED (first seed), HISTORIES, DURATION (minutes), STEPS per history, CRASH_RATE; REPORT=bench/results/….json keeps it.
soak: install
	node --conditions=source --no-warnings packages/testing/src/simulator/soak.ts

## Rebuild read models from position 0 (stop the platform first). PROJECTION=<name> for one.
replay: build
	node services/gateway/dist/cli.js replay $(PROJECTION)

clean:
	rm -rf node_modules packages/*/node_modules services/*/node_modules packages/*/dist services/*/dist *.tsbuildinfo
