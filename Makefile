# vial — the two commands that matter:
#   make run    install what is missing, build, start vial-server on 127.0.0.1:5000
#   make test   install what tests need, build, run every suite, print "N passed, N failed"
# Also: make build | hello | docs | bench | bench-ws | bench-metrics | fuzz | install [PREFIX=/usr/local] [DESTDIR=]
#       | uninstall | deb | deb-check | clean

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_TIME  ?= 60

.PHONY: all build deps assets run hello docs test bench bench-ws bench-metrics fuzz install uninstall deb deb-check clean

all: build

deps:
	@scripts/deps.sh build

build: deps assets
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Front-end libraries from npm (package.json, locked), copied into static/vendor/:
# served by vial-server, never committed.  Without npm the dashboard works, minus its chart.
assets: static/vendor/chart.umd.min.js

static/vendor/chart.umd.min.js: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null && \
	  mkdir -p static/vendor && cp node_modules/chart.js/dist/chart.umd.min.js $@; \
	else echo "npm not found: the dashboard chart will be missing (apt-get install npm)" >&2; fi

# HOST, PORT, WORKERS, DATABASE_URL, REDIS_URL, SECRET_KEY in the environment
# override the defaults.  Without SECRET_KEY a random one is made once and kept
# in data/.secret_key (mode 0600), so tokens survive restarts of a dev server.
run: build
	@mkdir -p data
	@[ -n "$$SECRET_KEY" ] || [ -s data/.secret_key ] || \
	  (umask 077; head -c 48 /dev/urandom | base64 -w0 > data/.secret_key)
	SECRET_KEY="$${SECRET_KEY:-$$(cat data/.secret_key)}" exec ./$(BUILD)/vial-server run

# The DESIGN.md hello world (examples/hello.c) on 127.0.0.1:5000.
hello: build
	exec ./$(BUILD)/examples/hello

# The API reference, from include/vial.h (Doxygen): $(BUILD)/docs/html/index.html.
# Fails on any warning, such as a public symbol without documentation.
docs:
	@scripts/deps.sh docs
	@mkdir -p $(BUILD)/docs
	@VIAL_SOURCE_DIR=$(CURDIR) VIAL_DOCS_OUT=$(abspath $(BUILD))/docs \
	  VIAL_VERSION=$$(sed -n 's/^#define VIAL_VERSION_STRING "\(.*\)"/\1/p' include/vial.h) \
	  doxygen docs/Doxyfile
	@echo "API reference: $(BUILD)/docs/html/index.html"

test:
	@scripts/test.sh

bench: build
	@scripts/deps.sh bench
	@VIAL_BUILD_DIR=$(BUILD) bench/run.sh

# WebSocket echo and idle connections against Node ws and Flask-SocketIO (issue 11).
bench-ws: build
	@scripts/deps.sh bench
	@VIAL_BUILD_DIR=$(BUILD) bench/ws.sh

# /json with metrics on against metrics off (issue 13).
bench-metrics: build
	@scripts/deps.sh bench
	@VIAL_BUILD_DIR=$(BUILD) bench/metrics.sh

fuzz:
	@FUZZ_TIME=$(FUZZ_TIME) scripts/fuzz.sh

# The library (shared, with its SONAME, and static), vial.h, vial.pc, the
# CMake package, vial-server and its data (share/vial), the `vial` command
# and its project skeleton, man pages.  DESTDIR stages the tree elsewhere
# (packaging).  What was installed is listed in $(BUILD)/install_manifest.txt.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# Removes exactly what the last `make install` of this build put there
# (the same DESTDIR, if one was given).
uninstall:
	DESTDIR="$(DESTDIR)" cmake -DMANIFEST=$(BUILD)/install_manifest.txt -P cmake/uninstall.cmake

# Debian packages (libvial0, libvial-dev, vial-server) in ../, unsigned.
deb:
	@scripts/deps.sh deb
	dpkg-buildpackage -us -uc -b

# The packages' own suite (a full package build in a temporary copy, lintian,
# the unpacked packages at work): not part of `make test`, see tests/install/test_deb.py.
deb-check:
	@scripts/deps.sh test deb
	VIAL_TEST_DEB=1 /usr/bin/python3 -m pytest tests/install/test_deb.py -q -p no:cacheprovider

clean:
	rm -rf $(BUILD) build-asan build-fuzz
