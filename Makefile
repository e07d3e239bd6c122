# Makefile - builds, installs, demonstrates, tests and benchmarks Hydra.
#
#   make                      build/py<X.Y>/mod_hydra.so against $(PYTHON)
#   make PYTHON=/path/python3 the same against another CPython (3.11-3.13)
#   make install              module, mod_python package, hydra.load (root)
#   make demo / demo-stop     a local Apache on 127.0.0.1:8080 serving demo/
#   make test                 lint, pytest against every supported build, then reliability
#   make lint                 clang-format, cppcheck, layer rules, message catalogue
#   make check                pytest against the $(PYTHON) build only
#   make reliability          restarts, soak, faults, bad input, fuzzing, ASan
#                             (tests/reliability, fuzz/; see README "Reliability")
#   make bench                bench/run.py
#   make deb / package-test   build/hydra_<version>_amd64.deb / its install test
#   make help                 everything else
#
# Compiler and linker flags come from apxs (Apache) and python3-config
# (Python). A CPython whose installation the Apache child user cannot read
# (pyenv under /root) is first copied to a world-readable prefix by
# scripts/python-home.sh, and the module is built against the copy.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

# --- inputs ---------------------------------------------------------------
PYTHON        ?= /usr/bin/python3
PYTHON_CONFIG ?= $(PYTHON)-config
APXS          ?= apxs
CC            ?= cc
PYENV_ROOT    ?= $(or $(shell pyenv root 2>/dev/null),/root/.pyenv)
# The Python that runs pytest, bench/run.py and the demo helpers: Debian's,
# with Debian's python3-pytest.
TOOL_PYTHON   ?= /usr/bin/python3
PYTEST_ARGS   ?=
BENCH_ARGS    ?=
# Extra flags, e.g. CFLAGS_EXTRA='-fsanitize=address' BUILD_SUFFIX=-asan.
CFLAGS_EXTRA  ?=
LDFLAGS_EXTRA ?=
BUILD_SUFFIX  ?=
DESTDIR       ?=

# Pythons that `make test` builds and tests: Debian's, plus pyenv's 3.13.0
# when it is there.
PY313 := $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13.0/bin/python3 \
                                /root/.pyenv/versions/3.13.0/bin/python3))
TEST_PYTHONS ?= /usr/bin/python3 $(PY313)

# --- facts about the Python we build against ------------------------------
# "3.13 /root/.pyenv/versions/3.13.0"; empty if $(PYTHON) does not run.
PY_FACTS  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2], sys.base_prefix)' 2>/dev/null)
PYVER     := $(word 1,$(PY_FACTS))
PY_PREFIX := $(word 2,$(PY_FACTS))
# The installation the module will use: PY_PREFIX itself, or a copy of it.
PY_HOME   := $(if $(PYVER),$(shell scripts/python-home.sh --print $(PYTHON) 2>/dev/null))

ifneq ($(PY_HOME),$(PY_PREFIX))
PY_COPY := yes
endif

# python3-config reports the original prefix; point everything at PY_HOME.
PY_INCLUDES := $(subst $(PY_PREFIX),$(PY_HOME),$(if $(PYVER),$(shell $(PYTHON_CONFIG) --includes 2>/dev/null)))
PY_LDFLAGS  := $(subst $(PY_PREFIX),$(PY_HOME),$(if $(PYVER),$(shell $(PYTHON_CONFIG) --ldflags --embed 2>/dev/null)))

# Debian's /usr Python finds its own home. Any other one is told where it
# lives (the C code uses HYDRA_PYTHON_HOME unless PYTHONHOME is set), and
# libpython is found through an rpath, because the embedding program is
# /usr/sbin/apache2, from which CPython cannot work out its prefix.
ifneq ($(PY_HOME),/usr)
PY_DEFINES  := -DHYDRA_PYTHON_HOME='"$(PY_HOME)"'
PY_LDFLAGS  += -Wl,-rpath,$(PY_HOME)/lib
HYDRA_PYTHON := $(PY_HOME)/bin/python$(PYVER)
else
HYDRA_PYTHON := $(PYTHON)
endif

# --- facts about Apache ---------------------------------------------------
apxs_query   = $(shell $(APXS) -q $(1) 2>/dev/null)
LIBEXECDIR   := $(call apxs_query,LIBEXECDIR)
APACHE_CONFDIR ?= $(or $(call apxs_query,SYSCONFDIR),/etc/apache2)
APXS_CFLAGS  := $(call apxs_query,CFLAGS) $(call apxs_query,EXTRA_CPPFLAGS)
APXS_INCLUDES := $(addprefix -I,$(call apxs_query,INCLUDEDIR) \
                   $(call apxs_query,APR_INCLUDEDIR) $(call apxs_query,APU_INCLUDEDIR))

# --- the build --------------------------------------------------------------
BUILD_DIR := build/py$(PYVER)$(BUILD_SUFFIX)
SO        := $(BUILD_DIR)/mod_hydra.so
# One folder per layer (docs/internals.md): glue, core, dispatch, objects.
LAYERS    := glue core dispatch objects
SRCS      := $(foreach layer,$(LAYERS),$(wildcard src/$(layer)/*.c))
OBJS      := $(patsubst src/%.c,$(BUILD_DIR)/obj/%.o,$(SRCS))
DEPS      := $(OBJS:.o=.d)

HYDRA_CFLAGS := -std=gnu11 -Wall -fPIC $(APXS_CFLAGS) -Isrc $(APXS_INCLUDES) \
                $(PY_INCLUDES) $(PY_DEFINES) $(CFLAGS_EXTRA)
HYDRA_LDFLAGS := -shared $(PY_LDFLAGS) $(LDFLAGS_EXTRA)

# Objects are rebuilt when the flags change (another Python home, another
# define), not only when sources do: the flags are recorded per build dir.
FLAGS_FILE := $(BUILD_DIR)/flags
FLAGS_TEXT := $(HYDRA_CFLAGS) | $(HYDRA_LDFLAGS)
NO_BUILD_GOALS := clean help demo-stop format format-check lint uninstall deb package-test
ifneq ($(PYVER),)
ifeq ($(filter $(NO_BUILD_GOALS),$(MAKECMDGOALS)),)
ifneq ($(FLAGS_TEXT),$(file <$(FLAGS_FILE)))
$(shell mkdir -p $(BUILD_DIR))
$(file >$(FLAGS_FILE),$(FLAGS_TEXT))
endif
endif
endif

.PHONY: all python-home install uninstall demo demo-stop test check unit-test bench \
        deps clean syntax format format-check lint help \
        reliability reliability-check fuzz fuzz-run asan asan-check deb package-test

# Bytecode of the mod_python package for this Python (and for PythonOptimize
# On), next to its sources: a child that cannot write python/mod_python
# would otherwise compile it again in every interpreter it creates, about a
# third more memory per interpreter (docs/benchmarks.md).
PKG_SOURCES  := $(wildcard python/mod_python/*.py)
PKG_BYTECODE := $(BUILD_DIR)/package-bytecode

all: $(SO) $(BUILD_DIR)/build-info $(PKG_BYTECODE)

$(PKG_BYTECODE): $(PKG_SOURCES) | python-home
	$(HYDRA_PYTHON) -m compileall -q -o 0 -o 2 python/mod_python
	@touch $@

python-home:
	$(if $(PYVER),,$(error $(PYTHON) does not run; set PYTHON=/path/to/python3))
	$(if $(PY_COPY),scripts/python-home.sh --make $(PYTHON) >/dev/null)

$(BUILD_DIR)/obj/%.o: src/%.c $(FLAGS_FILE) | python-home
	@mkdir -p $(@D)
	$(CC) $(HYDRA_CFLAGS) -MMD -MP -c $< -o $@

$(SO): $(OBJS) $(FLAGS_FILE)
	$(if $(SRCS),,$(error no C sources in src/))
	$(CC) -o $@ $(OBJS) $(HYDRA_LDFLAGS)
	@nm -D --defined-only $@ | grep -qw python_module || \
	  { echo "error: $@ does not export python_module" >&2; rm -f $@; exit 1; }
	@echo "built $@ against Python $(PYVER) at $(PY_HOME)"

# What the tests, the benchmark and the demo need to know about this build.
$(BUILD_DIR)/build-info: $(FLAGS_FILE)
	@printf 'HYDRA_SO=%s\nHYDRA_PYTHON=%s\nHYDRA_PYTHON_HOME=%s\nHYDRA_PYVER=%s\n' \
	  '$(abspath $(SO))' '$(HYDRA_PYTHON)' '$(PY_HOME)' '$(PYVER)' >$@

# Used only when the flags file could not be written at parse time.
$(FLAGS_FILE):
	$(shell mkdir -p $(@D))$(file >$@,$(FLAGS_TEXT))

-include $(DEPS)

# --- C unit tests -----------------------------------------------------------
# tests/unit/interp_<name>_test.c tests src/core/interp_<name>.c alone,
# without Apache: it is linked with that one object, APR and libpython, and
# prints its results.
UNIT_SRCS := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(patsubst tests/unit/%_test.c,$(BUILD_DIR)/unit/%_test,$(UNIT_SRCS))
APR_LIBS  := $(shell apr-1-config --link-ld --libs 2>/dev/null) \
             $(shell apu-1-config --link-ld --libs 2>/dev/null)

$(BUILD_DIR)/unit/%_test: tests/unit/%_test.c $(BUILD_DIR)/obj/core/%.o $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) $(HYDRA_CFLAGS) -o $@ $< $(BUILD_DIR)/obj/core/$*.o $(APR_LIBS) $(PY_LDFLAGS) $(LDFLAGS_EXTRA)

unit-test: $(UNIT_BINS)
	@status=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; $$t || status=1; \
	done; exit $$status

# --- install ----------------------------------------------------------------
# The module goes where Apache keeps modules, the mod_python package into the
# purelib of the Python the module uses (for Debian /usr/local/lib/python3.11/
# dist-packages, which precedes Debian's own mod_python on sys.path), and
# hydra.load lets `a2enmod hydra` enable it. Debian's python.load loads the
# same module symbol: `a2dismod python` first (a2enmod refuses otherwise).
install: all
	install -d $(DESTDIR)$(LIBEXECDIR)
	install -m 644 $(SO) $(DESTDIR)$(LIBEXECDIR)/mod_hydra.so
	purelib=$$($(HYDRA_PYTHON) -c 'import sysconfig; print(sysconfig.get_path("purelib"))') && \
	  install -d $(DESTDIR)$$purelib && \
	  rm -rf $(DESTDIR)$$purelib/mod_python && \
	  cp -r python/mod_python $(DESTDIR)$$purelib/ && \
	  find $(DESTDIR)$$purelib/mod_python -name __pycache__ -prune -exec rm -rf {} + && \
	  chmod -R a+rX $(DESTDIR)$$purelib/mod_python && \
	  { [ -n "$(DESTDIR)" ] || $(HYDRA_PYTHON) -m compileall -q $$purelib/mod_python; } && \
	  echo "installed the mod_python package into $(DESTDIR)$$purelib"
	install -d $(DESTDIR)$(APACHE_CONFDIR)/mods-available
	printf '%s\n' \
	  '# Hydra: mod_python-compatible, multi-interpreter Python for Apache.' \
	  '# Loads the same module symbol as Debian'"'"'s mod_python (python.load),' \
	  '# so only one of the two can be enabled: a2dismod python; a2enmod hydra' \
	  '# Conflicts: python' \
	  'LoadModule python_module $(LIBEXECDIR)/mod_hydra.so' \
	  >$(DESTDIR)$(APACHE_CONFDIR)/mods-available/hydra.load
	@echo "installed $(LIBEXECDIR)/mod_hydra.so and $(APACHE_CONFDIR)/mods-available/hydra.load"
	@echo "enable with: a2dismod python; a2enmod hydra; systemctl restart apache2"

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/mod_hydra.so $(DESTDIR)$(APACHE_CONFDIR)/mods-available/hydra.load
	purelib=$$($(HYDRA_PYTHON) -c 'import sysconfig; print(sysconfig.get_path("purelib"))') && \
	  rm -rf $(DESTDIR)$$purelib/mod_python

# --- demo, tests, benchmark -------------------------------------------------
deps:
	scripts/install-deps.sh

demo:
	scripts/install-deps.sh
	$(MAKE) --no-print-directory all
	scripts/demo.sh start $(BUILD_DIR)/build-info

demo-stop:
	scripts/demo.sh stop

# One pytest run per build, then the reliability suite; every part runs
# even if an earlier one fails.
test:
	scripts/install-deps.sh
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	for py in $(TEST_PYTHONS); do \
	  $(MAKE) --no-print-directory PYTHON=$$py check || status=1; \
	done; \
	$(MAKE) --no-print-directory reliability || status=1; \
	$(MAKE) --no-print-directory package-test || status=1; \
	exit $$status

# The C unit tests and pytest against this PYTHON's build. Exit 5 (nothing collected) is reported
# and not treated as a failure.
check: all unit-test
	@echo "== pytest: HYDRA_SO=$(abspath $(SO)) HYDRA_PYTHON=$(HYDRA_PYTHON)"
	@HYDRA_SO=$(abspath $(SO)) HYDRA_PYTHON=$(HYDRA_PYTHON) \
	  $(TOOL_PYTHON) -m pytest -q tests $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc = 5 ]; then echo "warning: pytest collected no tests for Python $(PYVER)"; rc=0; fi; \
	  exit $$rc

# --- reliability: restarts, soak, faults, bad input, fuzzing, ASan ----------
# `make reliability` runs, within CI's budget (about 12 minutes on 2 cores):
#   reliability-check  tests/reliability once per build of TEST_PYTHONS
#                      (graceful restarts, soak, faults, bad input, security,
#                      reference leaks); the soak lasts RELIABILITY_SOAK_SECONDS
#   fuzz-run           every libFuzzer target for FUZZ_SECONDS each
#   asan               the whole integration suite (tests/ and the bounded
#                      reliability tests) against an ASan+UBSan build
# Each prints lines starting RELIABILITY / FUZZ / ASAN with its numbers;
# JSON lines of the reliability numbers go to build/reliability-<X.Y>.jsonl.
RELIABILITY_SOAK_SECONDS ?= 120
# Child ends per way in tests/reliability/test_child_exit.py (its own default
# is 50 on 3.12+; CI runs fewer to stay within its time).
RELIABILITY_CHILD_EXITS  ?= 20
RELIABILITY_ARGS         ?=

reliability:
	@status=0; \
	for py in $(TEST_PYTHONS); do \
	  $(MAKE) --no-print-directory PYTHON=$$py HYDRA_SOAK_SECONDS=$(RELIABILITY_SOAK_SECONDS) \
	    HYDRA_CHILD_EXITS=$(RELIABILITY_CHILD_EXITS) reliability-check || status=1; \
	done; \
	$(MAKE) --no-print-directory fuzz-run || status=1; \
	$(MAKE) --no-print-directory asan || status=1; \
	exit $$status

# The reliability suite against this PYTHON's build. HYDRA_RESTARTS,
# HYDRA_SOAK_SECONDS and HYDRA_LEAK_REQUESTS tune it (tests/reliability/budget.py).
reliability-check: all
	@echo "== reliability: HYDRA_SO=$(abspath $(SO)) HYDRA_PYTHON=$(HYDRA_PYTHON)"
	@rm -f build/reliability-$(PYVER)$(BUILD_SUFFIX).jsonl
	@HYDRA_RELIABILITY=1 HYDRA_SO=$(abspath $(SO)) HYDRA_PYTHON=$(HYDRA_PYTHON) \
	  HYDRA_RELIABILITY_LOG=$(abspath build/reliability-$(PYVER)$(BUILD_SUFFIX).jsonl) \
	  $(TOOL_PYTHON) -m pytest -q tests/reliability $(RELIABILITY_ARGS)

# --- fuzzing: libFuzzer targets over the C code that parses client data ----
# fuzz/<name>_fuzz.c + fuzz/fuzz_python.c, linked with the sources under test
# built with clang's sanitizers and libpython (the checks are Python models in
# fuzz/fuzz_models.py). Built against PYTHON like the module.
FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_TARGETS  := parse_qs strings table
FUZZ_UNDER_TEST := obj_util_qs obj_strings obj_table
FUZZ_DIR      := $(BUILD_DIR)/fuzz
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   := -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread $(FUZZ_SANITIZE) \
                 $(call apxs_query,EXTRA_CPPFLAGS) -Isrc -Ifuzz $(APXS_INCLUDES) $(PY_INCLUDES) \
                 $(PY_DEFINES) -DFUZZ_MODELS_DIR='"$(abspath fuzz)"'
FUZZ_OBJS     := $(FUZZ_DIR)/obj/fuzz_python.o $(FUZZ_UNDER_TEST:%=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%_fuzz)
.SECONDARY: $(FUZZ_OBJS)

$(FUZZ_DIR)/obj/%.o: src/objects/%.c $(FLAGS_FILE) | python-home
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/fuzz_python.o: fuzz/fuzz_python.c fuzz/fuzz_python.h $(FLAGS_FILE) | python-home
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/%_fuzz: fuzz/%_fuzz.c fuzz/fuzz_python.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(PY_LDFLAGS) $(APR_LIBS)

fuzz: $(FUZZ_BINS)

fuzz-run: fuzz
	@echo "== fuzz: $(FUZZ_TARGETS), $(FUZZ_SECONDS) s each, Python $(PYVER)"
	@fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# --- AddressSanitizer + UBSan build of the module --------------------------
# build/py<X.Y>-asan/mod_hydra.so, built with gcc's sanitizers; the suite
# runs with libasan preloaded into apache2 (tests/reliability/asan_plugin.py)
# and fails on any sanitizer report. ASAN_PYTHON picks the build (one is
# enough for memory errors in C; 3.11 is Debian's).
ASAN_PYTHON   ?= /usr/bin/python3
ASAN_FLAGS    := -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1
# The bounded reliability tests that also run under ASan (the soak and the
# restarts run without it: their numbers are about time and memory).
ASAN_RELIABILITY_TESTS := tests/reliability/test_faults.py tests/reliability/test_bad_input.py \
                          tests/reliability/test_security.py tests/reliability/test_refleak.py
ASAN_LOG_DIR  ?= /tmp/hydra-asan-logs

asan:
	@$(MAKE) --no-print-directory PYTHON=$(ASAN_PYTHON) BUILD_SUFFIX=-asan \
	  CFLAGS_EXTRA='$(ASAN_FLAGS)' LDFLAGS_EXTRA='$(ASAN_FLAGS)' asan-check

asan-check: all
	@echo "== asan: HYDRA_SO=$(abspath $(SO)) (libasan preloaded into apache2)"
	@HYDRA_RELIABILITY=1 HYDRA_SO=$(abspath $(SO)) HYDRA_PYTHON=$(HYDRA_PYTHON) \
	  HYDRA_LEAK_REQUESTS=2000 \
	  HYDRA_ASAN_PRELOAD=$$($(CC) -print-file-name=libasan.so) HYDRA_ASAN_LOG_DIR=$(ASAN_LOG_DIR) \
	  PYTHONPATH=$(abspath tests):$(abspath tests/reliability) \
	  $(TOOL_PYTHON) -m pytest -q -p asan_plugin tests --ignore=tests/reliability \
	    $(ASAN_RELIABILITY_TESTS) $(PYTEST_ARGS)

bench:
	scripts/install-deps.sh
	$(MAKE) --no-print-directory all
	HYDRA_SO=$(abspath $(SO)) HYDRA_PYTHON=$(HYDRA_PYTHON) $(TOOL_PYTHON) bench/run.py $(BENCH_ARGS)

# --- Debian package -----------------------------------------------------------
# `make deb` leaves build/hydra_<version>_<arch>.deb; the version is
# hydra_version in python/mod_python/version.py (scripts/check-version.sh
# checks debian/changelog and the rest against it). dpkg-buildpackage runs on
# a copy of the tree in build/deb/, so its by-products stay out of the tree
# and it builds only build/deb/hydra-<version>/build/py<X.Y>-deb/; PATH and
# the make variables of this make do not reach it (the package is built
# against Debian's python3, not a pyenv one).
# `make package-test` (part of `make test`): lintian, then install, serve,
# purge and replace libapache2-mod-python in a Debian 12 chroot
# (tests/package/install-test.sh). Measured on 2 cores: deb 22-39 s, the test
# 2-4 minutes (debootstrap is most of it); bounded at 90 + 480 s.
DEB_VERSION = $(shell scripts/check-version.sh --print)
DEB_FILE    = build/hydra_$(DEB_VERSION)_$(shell dpkg --print-architecture).deb
DEB_STAGE  := build/deb

deb:
	@scripts/check-version.sh
	rm -rf $(DEB_STAGE) && mkdir -p $(DEB_STAGE)/hydra-$(DEB_VERSION)
	tar -c --exclude=./build --exclude=./.git --exclude=__pycache__ --exclude=.pytest_cache . | \
	  tar -x -C $(DEB_STAGE)/hydra-$(DEB_VERSION)
	cd $(DEB_STAGE)/hydra-$(DEB_VERSION) && \
	  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    DEB_BUILD_OPTIONS="parallel=$$(nproc) $$DEB_BUILD_OPTIONS" \
	    timeout 90 dpkg-buildpackage -us -uc -b
	cp $(DEB_STAGE)/$(notdir $(DEB_FILE)) $(DEB_FILE)
	@echo "built $(DEB_FILE)"

package-test: deb
	timeout 480 tests/package/install-test.sh $(DEB_FILE)

# --- housekeeping -----------------------------------------------------------
# Every C file alone, with the stricter warnings the team keeps clean.
syntax: | python-home
	@for f in $(SRCS); do \
	  $(CC) -std=gnu11 -fsyntax-only -Wall -Wextra -Wno-unused-parameter \
	    $(APXS_CFLAGS) -Isrc $(APXS_INCLUDES) $(PY_INCLUDES) $(PY_DEFINES) $$f || exit 1; \
	done; echo "syntax ok: $(words $(SRCS)) files, Python $(PYVER)"

FORMAT_FILES = $(wildcard src/*.h $(LAYERS:%=src/%/*.[ch]) tests/unit/*.c fuzz/*.[ch] bench/*.c tests/optfn_probe/*.c tests/owngil_ext/*.c)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# `make lint`: clang-format (no diff allowed), cppcheck over src/, the layer
# include rules (scripts/check-layers.sh) and the message catalogue
# (scripts/check-messages.sh: every HYDRAnnnn id in the code is in
# docs/messages.md and the other way round). `make test` runs it first.
CPPCHECK_FLAGS := -q --std=c11 --library=python --library=posix \
                  --include=scripts/cppcheck-python.h -I src \
                  --enable=warning,portability,performance --inline-suppr --error-exitcode=1 \
                  --suppress=missingIncludeSystem --suppress=varFuncNullUB
lint:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "clang-format ok: $(words $(FORMAT_FILES)) files"
	@cppcheck $(CPPCHECK_FLAGS) -j2 $(LAYERS:%=src/%) && echo "cppcheck ok: src/"
	@scripts/check-layers.sh
	@scripts/check-messages.sh
	@scripts/check-version.sh

clean:
	@if [ -f build/demo/run/httpd.pid ]; then echo "note: the demo may still run; make demo-stop" >&2; fi
	rm -rf build

help:
	@echo 'Targets:'
	@echo '  all (default)  build/py<X.Y>/mod_hydra.so against PYTHON (default /usr/bin/python3)'
	@echo '  install        module -> $(LIBEXECDIR)/mod_hydra.so, mod_python package -> purelib,'
	@echo '                 $(APACHE_CONFDIR)/mods-available/hydra.load (run as root; DESTDIR honoured)'
	@echo '  uninstall      removes what install put in place'
	@echo '  demo           starts a demo Apache on 127.0.0.1:$${DEMO_PORT:-8080}; demo-stop stops it'
	@echo '  test           install-deps, then pytest once per build of: $(TEST_PYTHONS)'
	@echo '  check          unit-test + pytest for the PYTHON build only (PYTEST_ARGS=...)'
	@echo '  unit-test      builds and runs tests/unit/interp_<name>_test.c against src/core/interp_<name>.c'
	@echo '  reliability    reliability-check per build, fuzz-run, asan (make test runs it)'
	@echo '  reliability-check  tests/reliability (restarts, soak, faults, bad input, security,'
	@echo '                 reference leaks) for PYTHON; HYDRA_RESTARTS/HYDRA_SOAK_SECONDS/...'
	@echo '  fuzz, fuzz-run libFuzzer targets in fuzz/ (build; run FUZZ_SECONDS each)'
	@echo '  asan           the integration suite against an ASan+UBSan build (libasan preloaded)'
	@echo '  bench          install-deps, build, bench/run.py (BENCH_ARGS=...)'
	@echo '  deb            build/hydra_<version>_<arch>.deb (dpkg-buildpackage in build/deb/)'
	@echo '  package-test   lintian, then the package installed, used, purged in a Debian 12 chroot'
	@echo '  deps           scripts/install-deps.sh'
	@echo '  syntax         -fsyntax-only -Wextra over every C file for PYTHON'
	@echo '  format         clang-format -i; format-check only reports'
	@echo '  lint           clang-format check, cppcheck, layer include rules, message catalogue'
	@echo '  clean          removes build/'
	@echo 'Variables: PYTHON PYTHON_CONFIG APXS CC CFLAGS_EXTRA LDFLAGS_EXTRA BUILD_SUFFIX'
	@echo '           TEST_PYTHONS PYTEST_ARGS BENCH_ARGS DESTDIR DEMO_PORT'
	@echo '           RELIABILITY_SOAK_SECONDS RELIABILITY_ARGS FUZZ_SECONDS ASAN_PYTHON'
	@echo 'This build: Python $(PYVER) at $(PY_HOME) -> $(SO)'
