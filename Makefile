# gridgw — top-level build. No generated build system: sources are found by
# wildcard so a module adds files without touching this file.
#
#   make            build gridgw and gridgw-sim
#   make deps       install missing Debian packages (idempotent, needs root)
#   make test       deps + build + every unit and integration test
#   make test-asan  the same under AddressSanitizer + UBSan
#   make demo       a simulated compound, a loopback broker, alarms live
#   make bench      benchmarks (figures, not pass/fail); SOAK=1800: only the
#                   30-minute memory soak (RSS every 10 s, slope)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make install    PREFIX=/usr/local SYSCONFDIR=/etc DESTDIR= (make uninstall: the same paths)
#   make deb        Debian packages gridgw + gridgw-sim into $(DEBDIR)/ (ARCH=arm64: cross)
#   make cross-test ARCH=arm64   cross build, unit tests under qemu-user

CC      ?= cc
PKG_CONFIG ?= pkg-config
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
DOCDIR  ?= $(DATADIR)/doc/gridgw
SYSCONFDIR ?= /etc
# systemd reads units from /usr/local/lib/systemd/system and tmpfiles.d from
# /usr/local/lib/tmpfiles.d, but sysusers.d only from /usr/lib (see
# docs/operations.md); the Debian package sets all three (debian/rules).
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BUILD   ?= build
VERSION ?= 0.1.0

PKGS    := libmodbus libconfig sqlite3 libcjson libcurl libcrypto libmicrohttpd libxcrypt
# Compiled-in paths: the default config and the vendor profile directory
# (shipped profiles, searched after gateway.profiles_dir). Every object
# depends on $(BUILD)/build-defs, rewritten only when these change, so a
# different PREFIX or VERSION rebuilds instead of linking stale paths.
BUILD_DEFS := -DGRIDGW_VERSION=\"$(VERSION)\" -DGRIDGW_DEFAULT_CONF=\"$(SYSCONFDIR)/gridgw/gridgw.conf\" \
	-DGRIDGW_VENDOR_PROFILES_DIR=\"$(DATADIR)/gridgw/profiles\"
CPPFLAGS += -I. -D_GNU_SOURCE $(BUILD_DEFS)
CFLAGS  ?= -O2 -g
# The warnings, standard and sanitizers are kept apart from CFLAGS so that
# `make CFLAGS=...` (test-asan, fuzz) cannot drop them.
WFLAGS  := -std=c11 -Wall -Wextra -Werror -pthread
ALL_CFLAGS = $(CFLAGS) $(WFLAGS) $(SAN)
ALL_LDFLAGS = $(LDFLAGS) -pthread $(SAN)
# Libraries whose headers are used but which are not linked, dlopen()ed on
# first use instead (issue #12: a gateway that does not use them maps none
# of their pages): libcurl and libmicrohttpd when notifications or the
# console start (gateway/notify/notify_thread.c, gateway/web/web_http.c),
# libcrypto at the first notification signature (gateway/notify/notify_sign.c),
# libcrypt at the first console password check (gateway/web/web_auth.c).
# Paho is not linked either: common/mqtt_lib.c loads libpaho-mqtt3a for
# tcp:// and libpaho-mqtt3as (with libssl + libcrypto) only for ssl://.
DLOPEN_PKGS := libcurl libmicrohttpd libcrypto libxcrypt
LIBS    := $(shell $(PKG_CONFIG) --libs $(filter-out $(DLOPEN_PKGS),$(PKGS)) 2>/dev/null) -lm -lutil
# For the programs that call Paho directly and use none of gridgw's MQTT
# clients (gridgw-sim, tests/lib/bare_sub, detector_pub). A program that
# also runs gridgw's uplink or sources must not link it: the linked copy
# would be global and interpose on the build common/mqtt_lib.c loads.
PAHO_LIBS := -lpaho-mqtt3as
PAHO_TESTLIB := bare_sub detector_pub
CPPFLAGS += $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)

# Every .c under the four library folders, at any depth (a new module folder
# needs no change here); gateway/cli/main.c is the gridgw program itself.
LIB_SRC := $(filter-out gateway/cli/main.c,$(shell find common sensors rules gateway -name '*.c' | sort))
SIM_SRC := $(wildcard sim/*.c)
# The console's pages: every file under gateway/web/assets/ is compiled into
# the binary (scripts/embed-assets.sh); the directories are prerequisites so
# that adding or removing a file regenerates the table.
WEB_ASSETS := $(shell find gateway/web/assets 2>/dev/null)
WEB_ASSETS_GEN := $(BUILD)/gen/web_assets_gen.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(WEB_ASSETS_GEN:%.c=%.o)
SIM_OBJ := $(SIM_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_BIN := $(TESTLIB_SRC:tests/lib/%.c=$(BUILD)/tests/%)

DEPS_PKGS := libpaho-mqtt-dev libmodbus-dev libconfig-dev libsqlite3-dev libcjson-dev \
	libcmocka-dev mosquitto mosquitto-clients pkg-config sqlite3 openssl \
	make gcc libc6-dev strace systemd procps jq \
	debhelper dpkg-dev fakeroot lintian man-db groff-base \
	libcurl4-openssl-dev libssl-dev python3 \
	libmicrohttpd-dev libcrypt-dev curl python3-prometheus-client

.PHONY: fuzz-deps all deps test test-asan test-stress unit integration demo bench fuzz install uninstall clean check-deps \
	deb cross-deps cross-test FORCE

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

$(BUILD)/build-defs: FORCE
	@mkdir -p $(BUILD); echo '$(BUILD_DEFS)' | cmp -s - $@ || echo '$(BUILD_DEFS)' >$@

$(BUILD)/%.o: %.c $(BUILD)/build-defs
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(WEB_ASSETS_GEN): scripts/embed-assets.sh $(WEB_ASSETS)
	@$(if $(V),,echo "  EMBED   gateway/web/assets")
	$(Q)scripts/embed-assets.sh gateway/web/assets $@

$(WEB_ASSETS_GEN:%.c=%.o): $(WEB_ASSETS_GEN)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libgridgw.a: $(LIB_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/gridgw: $(BUILD)/gateway/cli/main.o $(BUILD)/libgridgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/gridgw-sim: $(SIM_OBJ) $(BUILD)/libgridgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(PAHO_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgridgw.a $(BUILD)/build-defs
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libgridgw.a $(LIBS) -lcmocka $(ALL_LDFLAGS)

$(BUILD)/tests/%: tests/lib/%.c $(BUILD)/libgridgw.a $(BUILD)/build-defs
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libgridgw.a $(LIBS) \
	  $(if $(filter $(PAHO_TESTLIB),$*),$(PAHO_LIBS)) $(ALL_LDFLAGS)

unit: all $(UNIT_BIN)

test: deps
	@$(MAKE) --no-print-directory unit
	@BUILD=$(BUILD) tests/run.sh

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" unit
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

# The suite RUNS times under stress-ng --cpu 2 (issue #9); not in CI.
test-stress: deps
	@scripts/deps.sh stress-ng
	@$(MAKE) --no-print-directory unit
	@BUILD=$(BUILD) RUNS=$(or $(RUNS),5) scripts/test_stress.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) SOAK=$(SOAK) tests/bench/run.sh

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

# The layout of the Debian package: shipped profiles are vendor copies in
# $(DATADIR)/gridgw/profiles (replaced on upgrade); $(SYSCONFDIR)/gridgw/profiles
# is the installer's (created empty, wins on a name clash). A gridgw.conf
# already in place is never overwritten.
MANPAGES := man/gridgw.8 man/gridgw.conf.5 man/gridgw-sim.1
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/gridgw/profiles $(DESTDIR)$(DATADIR)/gridgw/profiles \
	  $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(BUILD)/gridgw $(BUILD)/gridgw-sim $(DESTDIR)$(BINDIR)/
	install -m 0644 config/profiles/*.conf $(DESTDIR)$(DATADIR)/gridgw/profiles/
	install -m 0644 config/gridgw.conf $(DESTDIR)$(DOCDIR)/examples/gridgw.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/gridgw/gridgw.conf ] || \
	  install -m 0644 config/gridgw.installed.conf $(DESTDIR)$(SYSCONFDIR)/gridgw/gridgw.conf
	install -m 0644 man/gridgw-sim.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/gridgw.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/gridgw.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/gridgw.service >$(DESTDIR)$(UNITDIR)/gridgw.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gridgw.service
	install -m 0644 systemd/gridgw.sysusers $(DESTDIR)$(SYSUSERSDIR)/gridgw.conf
	sed 's|^\([dz] *\)/etc/gridgw|\1$(SYSCONFDIR)/gridgw|' systemd/gridgw.tmpfiles >$(DESTDIR)$(TMPFILESDIR)/gridgw.conf
	chmod 0644 $(DESTDIR)$(TMPFILESDIR)/gridgw.conf

# Removes what install put there, except the configuration and the store:
# $(SYSCONFDIR)/gridgw/ holds the installer's edits (remove it by hand).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gridgw $(DESTDIR)$(BINDIR)/gridgw-sim
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/gridgw/profiles/,$(notdir $(wildcard config/profiles/*.conf)))
	-rmdir $(DESTDIR)$(DATADIR)/gridgw/profiles $(DESTDIR)$(DATADIR)/gridgw 2>/dev/null
	rm -f $(DESTDIR)$(DOCDIR)/examples/gridgw.conf
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null
	rm -f $(DESTDIR)$(MANDIR)/man1/gridgw-sim.1 $(DESTDIR)$(MANDIR)/man5/gridgw.conf.5 $(DESTDIR)$(MANDIR)/man8/gridgw.8
	rm -f $(DESTDIR)$(UNITDIR)/gridgw.service $(DESTDIR)$(SYSUSERSDIR)/gridgw.conf $(DESTDIR)$(TMPFILESDIR)/gridgw.conf

# Debian packages, built by dpkg-buildpackage in a copy of the tree under
# $(DEBDIR)/src (the .debs land in $(DEBDIR)); ARCH=arm64 cross-builds with
# the nocheck profile. DEB_VERSION overrides debian/changelog's version.
DEBDIR ?= build-deb
deb: deps $(if $(ARCH),cross-deps)
	@DEBDIR=$(DEBDIR) ARCH=$(ARCH) DEB_VERSION=$(DEB_VERSION) scripts/deb.sh

# Cross build for a Debian architecture (ARCH=arm64; armhf works the same)
# and its unit tests under qemu-user. The :ARCH -dev packages are the -dev
# packages of DEPS_PKGS (so a library added there flows in) and the ones
# other modules are adding.
CROSS_PKGS := $(sort $(filter-out libc6-dev,$(filter lib%-dev,$(DEPS_PKGS))) \
	libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libcrypt-dev)
CROSS_TRIPLET = $(shell dpkg-architecture -a$(ARCH) -qDEB_HOST_GNU_TYPE 2>/dev/null)
cross-deps:
	@[ -n "$(ARCH)" ] || { echo "cross-deps: set ARCH (e.g. ARCH=arm64)" >&2; exit 2; }
	@scripts/cross-deps.sh $(ARCH) $(CROSS_PKGS)
cross-test: cross-deps
	@$(MAKE) --no-print-directory ARCH= BUILD=build-$(ARCH) CC=$(CROSS_TRIPLET)-gcc \
	  PKG_CONFIG=$(CROSS_TRIPLET)-pkg-config unit
	@scripts/cross-test.sh $(ARCH) build-$(ARCH) || { rc=$$?; [ $$rc = 77 ] && { echo "cross-test: skipped (reason above)"; exit 0; }; exit $$rc; }

clean:
	rm -rf build build-asan build-fuzz build-clang build-deb build-arm64 build-armhf gridgw gridgw-sim

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
