# wasmgrid build. `make` builds build/wasmgrid; `make test` runs every test, then again
# under AddressSanitizer and UndefinedBehaviorSanitizer; `make demo` runs the main job.
# Sources are found by wildcard: adding a file under src/ or tests/ needs no edit here.

BUILD   ?= build
CC      ?= cc
PKGS    := libuv libprotobuf-c libsodium sqlite3 libpq libcurl libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(EXTRA_WARN) $(CFLAGS) $(SANFLAGS) -Isrc -Itests -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lpthread -ldl -lm
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

PROTO_C := $(BUILD)/gen/wasmgrid.pb-c.c
PROTO_O := $(BUILD)/obj/gen/wasmgrid.pb-c.o
# The dashboard's files (src/manager/dashboard/) are built into the binary as byte arrays.
DASH_FILES := $(sort $(wildcard src/manager/dashboard/*))
DASH_C  := $(BUILD)/gen/dashboard_assets.c
DASH_O  := $(BUILD)/obj/gen/dashboard_assets.o
LIB_SRC := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(PROTO_O) $(DASH_O)
# tests/programs/ holds WebAssembly test programs (built below), not test code.
TEST_SRC := $(shell find tests -name '*.c' -not -path 'tests/programs/*' | sort)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all deps install lint soak test test-fast test-asan test-fuzz fuzz fuzz-build demo bench examples clean format
all: $(BUILD)/wasmgrid $(BUILD)/wasmgrid-tests $(BUILD)/wasmgrid-bed examples

deps:
	@./tools/deps.sh

$(PROTO_C): proto/wasmgrid.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen --proto_path=proto proto/wasmgrid.proto

# Generated code is compiled without our warning set: it is not ours to fix.
$(PROTO_O): $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -I$(BUILD)/gen -c $< -o $@

$(DASH_C): $(DASH_FILES) tools/embed.sh
	@mkdir -p $(dir $@)
	./tools/embed.sh wg_dashboard_assets $(DASH_FILES) > $@.tmp && mv $@.tmp $@

$(DASH_O): $(DASH_C)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libwasmgrid.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/wasmgrid: $(BUILD)/obj/src/main.o $(BUILD)/libwasmgrid.a
	$(CC) $(SANFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BUILD)/wasmgrid-tests: $(TEST_OBJ) $(BUILD)/libwasmgrid.a
	$(CC) $(SANFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

# The multi-host test bed for scripts (docs/testing.md): the tests' own harness, driven from stdin.
$(BUILD)/wasmgrid-bed: $(BUILD)/obj/tools/netbed/netbed.o $(BUILD)/obj/tests/harness/netns.o \
		$(BUILD)/obj/tests/harness/proc.o $(BUILD)/libwasmgrid.a
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# WebAssembly example programs, built from C with clang and wasi-libc.

# Both folders build into one: names must not collide (test programs start with t_).
EXAMPLES   := $(patsubst %.c,$(BUILD)/examples/%.wasm,$(notdir $(wildcard examples/*.c tests/programs/*.c)))
examples: $(EXAMPLES)
$(BUILD)/examples/%.wasm: examples/%.c
	@mkdir -p $(dir $@)
	clang --target=wasm32-wasi -O2 -o $@ $<
$(BUILD)/examples/%.wasm: tests/programs/%.c
	@mkdir -p $(dir $@)
	clang --target=wasm32-wasi -O2 -o $@ $<

JOBS    := -j$(shell nproc 2>/dev/null || echo 2)

# Checks of the source itself (docs/layers.md): no include reaches up a layer.
# Layers, formatting and clang-tidy (tools/lint.sh); `make format` applies .clang-format.
lint: $(PROTO_C)
	./tools/lint.sh

test: deps lint
	$(MAKE) $(JOBS) all
	$(MAKE) test-fast
	$(MAKE) test-asan
	$(MAKE) test-fuzz

test-fast: all
	$(BUILD)/wasmgrid-tests

# The soak of docs/testing.md for SOAK_SECONDS of faults (the version in `make test` runs 60).
SOAK_SECONDS ?= 1800
soak: deps all
	WG_SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD)/wasmgrid-tests multihost_soak

test-asan:
	$(MAKE) $(JOBS) BUILD=build/asan SANFLAGS="$(SAN)" OPT=-O1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		build/asan/wasmgrid-tests

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, its manual page (made from the
# binary's own usage lines), the systemd units and defaults of dist/, the Python client and
# the documentation (docs/install.md).
PREFIX  ?= /usr/local
PYTHON  ?= $(shell command -v /usr/bin/python3 || command -v python3)
PY_SITE  = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_path('purelib', vars={'base': '$(PREFIX)'}))")
install: $(BUILD)/wasmgrid
	install -D -m 755 $(BUILD)/wasmgrid $(DESTDIR)$(PREFIX)/bin/wasmgrid
	@mkdir -p $(DESTDIR)$(PREFIX)/share/man/man1
	$(BUILD)/wasmgrid help --man > $(DESTDIR)$(PREFIX)/share/man/man1/wasmgrid.1
	install -D -m 644 python/wasmgrid/__init__.py $(DESTDIR)$(PY_SITE)/wasmgrid/__init__.py
	install -d $(DESTDIR)$(PREFIX)/share/doc/wasmgrid
	install -m 644 README.md LICENSE docs/*.md $(DESTDIR)$(PREFIX)/share/doc/wasmgrid/
	@mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system
	for f in $(wildcard dist/*.service); do \
		sed 's|@PREFIX@|$(PREFIX)|g' $$f > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$f) || exit 1; done
	for f in $(wildcard dist/default/*); do [ -e $(DESTDIR)/etc/default/$$(basename $$f) ] || \
		install -D -m 644 $$f $(DESTDIR)/etc/default/$$(basename $$f) || exit 1; done

# Fuzzing (docs/testing.md): the libFuzzer targets in fuzz/ are built with clang into
# build/fuzz/, against the library compiled with coverage and ASan+UBSan. `make fuzz` runs
# each for FUZZ_SECONDS (300); `make test` runs each for 20 s, so CI catches regressions.
# clang warns where gcc does not about libseccomp's own initializer macros.
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 300

fuzz-build:
	$(MAKE) $(JOBS) BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 \
		SANFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		EXTRA_WARN=-Wno-missing-field-initializers fuzz-bins

FUZZ_COMMON := $(BUILD)/obj/fuzz/loopback.o $(BUILD)/obj/fuzz/proto_util.o
fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz-bin/%)
.SECONDARY: $(FUZZ_TARGETS:%=$(BUILD)/obj/fuzz/%.o) $(FUZZ_COMMON)
$(BUILD)/fuzz-bin/%: $(BUILD)/obj/fuzz/%.o $(FUZZ_COMMON) $(BUILD)/libwasmgrid.a
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LDLIBS)

fuzz: deps fuzz-build
	./tools/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

test-fuzz: fuzz-build
	./tools/fuzz.sh $(FUZZ_BUILD) 20 $(FUZZ_TARGETS)

demo: deps
	$(MAKE) $(JOBS) all
	./tools/demo.sh $(BUILD) $(if $(KEEP),--keep)

bench: deps all
	./bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h' 2>/dev/null || find src tests fuzz bench examples -name '*.[ch]')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
