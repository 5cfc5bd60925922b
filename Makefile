# interlink — one non-recursive Makefile. `make help` lists the targets.
# Flags come from pkg-config; objects go under $(B)/ with -MMD dependency files.

CC      ?= cc
HOSTCC  ?= cc
B       ?= build
SANITIZE ?=
PKGS    := libmicrohttpd gnutls lmdb libconfuse jansson libcurl openssl
PY      := /usr/bin/python3

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -pthread $(WARN) -I. -MMD -MP
LDLIBS  := -pthread
ifneq ($(MAKECMDGOALS),deps)
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null)
endif
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

MAINS   := relay/relay_main.c admin/interlinkctl.c
# interlinkctl (admin/interlinkctl*.c): a client of the admin API, not part of the library
CTLSRC  := $(wildcard admin/interlinkctl*.c)
LIBSRC  := $(filter-out $(MAINS) $(CTLSRC),$(wildcard relay/*.c routing/*.c queue/*.c admin/*.c))
LIBOBJ  := $(LIBSRC:%.c=$(B)/%.o) $(B)/admin_assets.o
CONSOLE := $(sort $(wildcard admin/console/*.html admin/console/*.css admin/console/*.js))
UNITS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
BENCHES := $(patsubst tests/bench/%.c,$(B)/bench/%,$(wildcard tests/bench/bench_*.c))
CRASH   := $(patsubst tests/crash/%.c,$(B)/crash/%,$(wildcard tests/crash/*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all deps deps-build run test unit system browser crash asan tsan fuzz bench bench-relay footprint clean help
.PHONY: deps-package deb package-test
all: $(B)/interlinkd $(B)/interlinkctl

help:
	@echo "make            build $(B)/interlinkd and $(B)/interlinkctl"
	@echo "make run        install missing packages, build, run a local relay in the foreground"
	@echo "make demo       build, then a relay and two demo carriers on loopback, step by step"
	@echo "make test       install missing packages, build, run unit + system tests, then again under ASan/UBSan and TSan"
	@echo "make browser    the web console in Debian's chromium (playwright-core), screenshots in $(B)/browser-screenshots"
	@echo "make asan       unit + system tests built with -fsanitize=address,undefined"
	@echo "make tsan       the routing unit tests (concurrent table swaps) with -fsanitize=thread"
	@echo "make fuzz       libFuzzer targets with clang, $(FUZZ_SECONDS) s each"
	@echo "make bench      benchmarks, printed beside their baselines"
	@echo "make footprint  stripped binary sizes, interlinkd's RSS idle and under wrk load"
	@echo "make deb        the Debian package, in build/deb/ (dpkg-buildpackage on a copy of the tree)"
	@echo "make package-test  build the .deb, install, run and purge it (root; Debian 12)"

deps:
	@packaging/deps.sh test
deps-build:
	@packaging/deps.sh build
deps-package:
	@packaging/deps.sh package

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The web console's files, compiled in by a host tool (admin/tools/bin2c.c).
$(B)/tools/bin2c: admin/tools/bin2c.c
	@mkdir -p $(@D)
	$(HOSTCC) -std=c11 -O2 $(WARN) -o $@ $<

$(B)/admin_assets.c: $(B)/tools/bin2c $(CONSOLE)
	$(B)/tools/bin2c $@ $(CONSOLE)

$(B)/admin_assets.o: $(B)/admin_assets.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libinterlink.a: $(LIBOBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/interlinkd: $(B)/relay/relay_main.o $(B)/libinterlink.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/interlinkctl: $(CTLSRC:%.c=$(B)/%.o)
	$(CC) $(LDFLAGS) -o $@ $^ -pthread $(shell pkg-config --libs libcurl jansson libcrypto 2>/dev/null)

$(B)/tests/%: $(B)/tests/unit/%.o $(B)/libinterlink.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

$(B)/bench/%: $(B)/tests/bench/%.o $(B)/libinterlink.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# bench_relay.py's bare MHD server (baseline and sink): not a bench_*, and no library.
$(B)/bench/bare_mhd: $(B)/tests/bench/bare_mhd.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/crash/%: $(B)/tests/crash/%.o $(B)/libinterlink.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests
run: deps-build
	@$(MAKE) --no-print-directory $(B)/interlinkd
	@packaging/run-local.sh $(B)/interlinkd

# A relay and two demo carriers on loopback, step by step (packaging/demo.py, under 60 s;
# from a terminal it keeps running for the console until Ctrl-C).
.PHONY: demo
demo: deps-build
	@$(MAKE) --no-print-directory $(B)/interlinkd $(B)/interlinkctl
	@INTERLINKD=$(abspath $(B)/interlinkd) INTERLINKCTL=$(abspath $(B)/interlinkctl) \
	  $(PY) packaging/demo.py $(DEMO_ARGS)

test: deps
	@$(MAKE) --no-print-directory unit system browser crash
	@$(MAKE) --no-print-directory asan tsan

unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; done

crash: $(CRASH)
	@set -e; for t in $(CRASH); do echo "== $$t"; $$t; done

system: $(B)/interlinkd $(B)/interlinkctl $(B)/tests/failsync.so
	INTERLINKD=$(abspath $(B)/interlinkd) INTERLINKCTL=$(abspath $(B)/interlinkctl) \
	  FAILSYNC=$(abspath $(B)/tests/failsync.so) $(PY) -m pytest -q tests/system

# A failing disk, preloaded into interlinkd by a system test (never with sanitizers: the
# daemon's own runtime is what it checks).
$(B)/tests/failsync.so: tests/system/failsync.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=c11 -D_GNU_SOURCE $(WARN) -shared -fPIC -o $@ $<

# The web console in Debian's chromium, driven by playwright-core (npm; no browser download).
browser: deps $(B)/interlinkd
	cd tests/browser && npm ci --no-audit --no-fund
	INTERLINKD=$(abspath $(B)/interlinkd) SCREENSHOTS=$(abspath $(B))/browser-screenshots \
	  node tests/browser/console.test.mjs

asan:
	@$(MAKE) --no-print-directory B=build/asan SANITIZE=address,undefined CC=gcc unit system

# ThreadSanitizer: readers swapping route tables under a writer (tests/unit/test_routing.c).
tsan:
	@$(MAKE) --no-print-directory B=build/tsan SANITIZE=thread build/tsan/tests/test_routing
	build/tsan/tests/test_routing

# ---- fuzzing (clang's libFuzzer; seeds in tests/fuzz/corpus/<target>/)
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(WARN) -Wno-unused-command-line-argument \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
fuzz: deps $(B)/admin_assets.c
	@set -e; for f in $(FUZZERS); do \
	  mkdir -p build/fuzz build/fuzz/corpus/$$f; \
	  echo "== $$f"; \
	  clang $(FUZZ_CFLAGS) -o build/fuzz/$$f tests/fuzz/$$f.c $(LIBSRC) $(B)/admin_assets.c $(LDLIBS); \
	  build/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/$$f- build/fuzz/corpus/$$f tests/fuzz/corpus/$$f; \
	done

bench: deps $(BENCHES)
	@set -e; for b in $(BENCHES); do echo "== $$b"; $$b; done
	@$(MAKE) --no-print-directory bench-relay

# wrk against a bare MHD server, interlinkd storing, and interlinkd delivering to a sink.
bench-relay: $(B)/interlinkd $(B)/bench/bare_mhd
	$(PY) tests/bench/bench_relay.py --interlinkd $(B)/interlinkd --bare-mhd $(B)/bench/bare_mhd

# ---- the Debian package (packaging/debian/), built from a copy of the tree under
# build/deb/src so that dpkg-buildpackage writes nothing into the working tree.
DEB_VERSION = $(shell dpkg-parsechangelog -l packaging/debian/changelog -S Version 2>/dev/null)
DEB_ARCH    = $(shell dpkg --print-architecture 2>/dev/null)
DEB         = build/deb/interlink_$(DEB_VERSION)_$(DEB_ARCH).deb
deb: deps-package
	rm -rf build/deb && mkdir -p build/deb/src
	tar -c --exclude=./build --exclude=./var --exclude=./.git --exclude='*/node_modules' \
	  --exclude='*/__pycache__' --exclude='*/.pytest_cache' . | tar -x -C build/deb/src
	rm -rf build/deb/src/debian && cp -R packaging/debian build/deb/src/debian
	cd build/deb/src && dpkg-buildpackage -us -uc -b
	rm -rf build/deb/src
	@ls -l build/deb/*.deb

package-test: deb
	packaging/test-package.sh $(DEB)

# Figures for docs/operations.md (and small boxes): sizes, RSS idle and under load.
footprint: $(B)/interlinkd $(B)/interlinkctl
	@CC=$(CC) packaging/footprint.sh $(B)/interlinkd $(B)/interlinkctl

clean:
	rm -rf build var/run-local

-include $(shell find $(B) -path build/deb -prune -o -name '*.d' -print 2>/dev/null)
