# wasmgrid build. `make` builds build/wasmgrid; `make test` runs every test, then again
# under AddressSanitizer and UndefinedBehaviorSanitizer; `make demo` runs the main job.
# Sources are found by wildcard: adding a file under src/ or tests/ needs no edit here.

BUILD   ?= build
CC      ?= cc
PKGS    := libuv libprotobuf-c libsodium sqlite3 libcurl libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -Isrc -Itests -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lpthread -ldl -lm
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

PROTO_C := $(BUILD)/gen/wasmgrid.pb-c.c
PROTO_O := $(BUILD)/obj/gen/wasmgrid.pb-c.o
LIB_SRC := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(PROTO_O)
# tests/programs/ holds WebAssembly test programs (built below), not test code.
TEST_SRC := $(shell find tests -name '*.c' -not -path 'tests/programs/*' | sort)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all deps test test-fast test-asan demo bench examples clean format
all: $(BUILD)/wasmgrid $(BUILD)/wasmgrid-tests examples

deps:
	@./tools/deps.sh

$(PROTO_C): proto/wasmgrid.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen --proto_path=proto proto/wasmgrid.proto

# Generated code is compiled without our warning set: it is not ours to fix.
$(PROTO_O): $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -I$(BUILD)/gen -c $< -o $@

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

test: deps
	$(MAKE) $(JOBS) all
	$(MAKE) test-fast
	$(MAKE) test-asan

test-fast: all
	$(BUILD)/wasmgrid-tests

test-asan:
	$(MAKE) $(JOBS) BUILD=build/asan SANFLAGS="$(SAN)" OPT=-O1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		build/asan/wasmgrid-tests

demo: deps
	$(MAKE) $(JOBS) all
	./tools/demo.sh $(BUILD)

bench: deps all
	./bench/run.sh

format:
	clang-format -i $$(find src tests examples -name '*.[ch]')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
