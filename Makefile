# gridgw — top-level build. No generated build system: sources are found by
# wildcard so a module adds files without touching this file.
#
#   make            build gridgw and gridgw-sim
#   make deps       install missing Debian packages (idempotent, needs root)
#   make test       deps + build + every unit and integration test
#   make test-asan  the same under AddressSanitizer + UBSan
#   make demo       a simulated compound, a loopback broker, alarms live
#   make bench      benchmarks (figures, not pass/fail)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make install    PREFIX=/usr/local DESTDIR=

CC      ?= cc
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
BUILD   ?= build
VERSION := 0.1.0

PKGS    := libmodbus libconfig sqlite3 libcjson libsystemd
CPPFLAGS += -I. -D_GNU_SOURCE -DGRIDGW_VERSION=\"$(VERSION)\"
CFLAGS  ?= -O2 -g
# The warnings, standard and sanitizers are kept apart from CFLAGS so that
# `make CFLAGS=...` (test-asan, fuzz) cannot drop them.
WFLAGS  := -std=c11 -Wall -Wextra -Werror -pthread
ALL_CFLAGS = $(CFLAGS) $(WFLAGS) $(SAN)
ALL_LDFLAGS = $(LDFLAGS) -pthread $(SAN)
LIBS    := -lpaho-mqtt3as $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lutil
CPPFLAGS += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

# Every .c under the four library folders, at any depth (a new module folder
# needs no change here); gateway/cli/main.c is the gridgw program itself.
LIB_SRC := $(filter-out gateway/cli/main.c,$(shell find common sensors rules gateway -name '*.c' | sort))
SIM_SRC := $(wildcard sim/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
SIM_OBJ := $(SIM_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_BIN := $(TESTLIB_SRC:tests/lib/%.c=$(BUILD)/tests/%)

DEPS_PKGS := libpaho-mqtt-dev libmodbus-dev libconfig-dev libsqlite3-dev libcjson-dev \
	libcmocka-dev libsystemd-dev mosquitto mosquitto-clients pkg-config sqlite3 openssl \
	make gcc libc6-dev strace systemd procps

.PHONY: fuzz-deps all deps test test-asan unit integration demo bench fuzz install clean check-deps

all: $(BUILD)/gridgw $(BUILD)/gridgw-sim $(TESTLIB_BIN)
	@ln -sf $(BUILD)/gridgw gridgw; ln -sf $(BUILD)/gridgw-sim gridgw-sim

# The console's browser test (tests/integration/test_console_browser.sh):
# headless chromium driven by Selenium; CJK fonts so the screenshots of the
# Chinese pages are readable.
DEPS_PKGS += chromium chromium-driver python3-selenium fonts-noto-cjk

deps:
	@scripts/deps.sh $(DEPS_PKGS)

# V=1 shows the full command lines.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libgridgw.a: $(LIB_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/gridgw: $(BUILD)/gateway/cli/main.o $(BUILD)/libgridgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/gridgw-sim: $(SIM_OBJ) $(BUILD)/libgridgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgridgw.a
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libgridgw.a $(LIBS) -lcmocka $(ALL_LDFLAGS)

$(BUILD)/tests/%: tests/lib/%.c $(BUILD)/libgridgw.a
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libgridgw.a $(LIBS) $(ALL_LDFLAGS)

unit: all $(UNIT_BIN)

test: deps
	@$(MAKE) --no-print-directory unit
	@BUILD=$(BUILD) tests/run.sh

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" unit
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/bench/run.sh

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
build-fuzz/%: tests/fuzz/%.c
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="-O1 -g" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libgridgw.a
	clang $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< build-fuzz/libgridgw.a $(LIBS)
FUZZ_DEPS := clang libclang-rt-14-dev
fuzz-deps: deps
	@scripts/deps.sh $(FUZZ_DEPS)
fuzz: fuzz-deps $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_BIN)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/gridgw/profiles
	install -m 0755 $(BUILD)/gridgw $(BUILD)/gridgw-sim $(DESTDIR)$(BINDIR)/
	install -m 0644 config/gridgw.conf $(DESTDIR)$(SYSCONFDIR)/gridgw/gridgw.conf.example
	install -m 0644 config/profiles/*.conf $(DESTDIR)$(SYSCONFDIR)/gridgw/profiles/
	@if [ -f systemd/gridgw.service ]; then \
	  install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d; \
	  sed 's|@BINDIR@|$(BINDIR)|g' systemd/gridgw.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/gridgw.service; \
	  install -m 0644 systemd/gridgw.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/gridgw.conf; \
	  install -m 0644 systemd/gridgw.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/gridgw.conf; \
	fi

clean:
	rm -rf build build-asan build-fuzz gridgw gridgw-sim

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
