# shunt: zero-downtime PostgreSQL schema migrations.
#
#   make                 build ./shunt and libshunt (.a, .so)
#   make check           install missing dependencies, run unit + integration tests
#   make check-unit      unit tests only (no server)
#   make check-asan      the whole suite under AddressSanitizer + UBSan
#   make demo            the main job on a throwaway PostgreSQL
#   make bench           benchmarks (bench/results/)
#   make install PREFIX=/usr/local
#
# SANITIZE=address,undefined builds into build-san/ instead of build/.

PREFIX      ?= /usr/local
PG_CONFIG   ?= pg_config
CC          ?= cc
VERSION     := 0.1.0

ifdef SANITIZE
BUILD       := build-san
SANFLAGS    := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD       := build
SANFLAGS    :=
endif

PG_INCLUDE  := $(shell $(PG_CONFIG) --includedir 2>/dev/null || echo /usr/include/postgresql)
PG_LIBDIR   := $(shell $(PG_CONFIG) --libdir 2>/dev/null || echo /usr/lib)

WARN        := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
               -Wformat=2 -Wvla -Wno-format-nonliteral
CFLAGS      ?= -O2 -g
ALL_CFLAGS  := -std=c11 -D_GNU_SOURCE -DSHUNT_VERSION='"$(VERSION)"' $(WARN) $(CFLAGS) \
               $(SANFLAGS) -fPIC -Isrc -Iinclude -I$(PG_INCLUDE)
LDFLAGS     += $(SANFLAGS)
LIBS        := -L$(PG_LIBDIR) -lpq -lpg_query -lyaml -ljansson -lm -lpthread

CORE_SRC    := $(sort $(wildcard src/core/*.c))
PG_SRC      := $(sort $(wildcard src/pg/*.c))
CLI_SRC     := $(sort $(wildcard src/cli/*.c))
CLIENT_SRC  := $(sort $(wildcard src/client/*.c))
UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))

CORE_OBJ    := $(patsubst src/%.c,$(BUILD)/%.o,$(CORE_SRC) $(PG_SRC))
CLI_OBJ     := $(patsubst src/%.c,$(BUILD)/%.o,$(CLI_SRC))
CLIENT_OBJ  := $(patsubst src/%.c,$(BUILD)/%.o,$(CLIENT_SRC))
UNIT_BIN    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

ifdef SANITIZE
SHUNT_BIN   := $(BUILD)/shunt
else
SHUNT_BIN   := shunt
endif

.PHONY: all deps check check-unit check-integration check-asan demo bench install \
        uninstall clean format lint fuzz

all: $(SHUNT_BIN) $(BUILD)/libshunt.a $(BUILD)/libshunt.so $(BUILD)/shunt.pc

$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libshunt_internal.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHUNT_BIN): $(CLI_OBJ) $(BUILD)/libshunt_internal.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libshunt_internal.a $(LIBS)

# libshunt: the application-side client library (include/shunt.h).
$(BUILD)/libshunt.a: $(CLIENT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libshunt.so: $(CLIENT_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libshunt.so.0 -o $@ $^ -L$(PG_LIBDIR) -lpq

$(BUILD)/shunt.pc: shunt.pc.in
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libshunt_internal.a $(BUILD)/libshunt.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libshunt_internal.a \
	    $(BUILD)/libshunt.a $(LDFLAGS) $(LIBS) -lcmocka

# Test drivers (tests/tools/*.c): small programs the integration tests run
# against internals that have no CLI command yet.
TOOL_SRC    := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN    := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRC))

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libshunt_internal.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libshunt_internal.a $(LDFLAGS) $(LIBS)

# shunt-load: the load generator and plot writer of the demo and the
# benchmarks (bench/load, bench/plot).  Built for demo and bench, not by all;
# it links libpq and only the core objects it uses, so the code it measures
# cannot break it.
LOAD_SRC    := $(sort $(wildcard bench/load/*.c bench/plot/*.c))
LOAD_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(LOAD_SRC)) \
               $(addprefix $(BUILD)/core/,alloc.o buf.o hist.o)

$(BUILD)/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ibench -MMD -MP -c $< -o $@

$(BUILD)/shunt-load: $(LOAD_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(LOAD_OBJ) -L$(PG_LIBDIR) -lpq -lm -lpthread

deps:
	@scripts/install-deps.sh

check-unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

check-integration: all $(TOOL_BIN)
	@SHUNT_BIN=$(abspath $(SHUNT_BIN)) SHUNT_TOOLS=$(abspath $(BUILD)/tests/tools) \
	    tests/run-integration.sh $(TESTS)

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(TOOL_BIN)
	@tests/run-unit.sh $(UNIT_BIN)
	@SHUNT_BIN=$(abspath $(SHUNT_BIN)) SHUNT_TOOLS=$(abspath $(BUILD)/tests/tools) \
	    tests/run-integration.sh $(TESTS)

check-asan: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined check-unit check-integration

demo: deps all $(BUILD)/shunt-load
	@scripts/demo.sh

bench: deps all $(BUILD)/shunt-load
	@bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 shunt $(DESTDIR)$(PREFIX)/bin/shunt
	install -m 644 $(BUILD)/libshunt.a $(DESTDIR)$(PREFIX)/lib/libshunt.a
	install -m 755 $(BUILD)/libshunt.so $(DESTDIR)$(PREFIX)/lib/libshunt.so.0
	ln -sf libshunt.so.0 $(DESTDIR)$(PREFIX)/lib/libshunt.so
	install -m 644 include/shunt.h $(DESTDIR)$(PREFIX)/include/shunt.h
	install -m 644 $(BUILD)/shunt.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/shunt.pc
	install -m 644 man/shunt.1 $(DESTDIR)$(PREFIX)/share/man/man1/shunt.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/shunt $(DESTDIR)$(PREFIX)/lib/libshunt.* \
	    $(DESTDIR)$(PREFIX)/include/shunt.h $(DESTDIR)$(PREFIX)/lib/pkgconfig/shunt.pc \
	    $(DESTDIR)$(PREFIX)/share/man/man1/shunt.1

# Fuzzing (clang's libFuzzer + ASan/UBSan): each target runs FUZZ_SECONDS
# from the seed corpus in tests/fuzz/corpus (plus pgroll's examples from
# ../shared/compat for the migration parser); crashes fail the target.
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
                -DSHUNT_VERSION='"$(VERSION)"' -Isrc -Iinclude -I$(PG_INCLUDE)
FUZZ_CORE    := src/core/alloc.c src/core/buf.c src/core/error.c src/core/interrupt.c src/core/log.c \
                src/core/yaml_json.c src/core/migration.c

build-fuzz/fuzz_migration: tests/fuzz/fuzz_migration.c $(FUZZ_CORE)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ -lyaml -ljansson

build-fuzz/fuzz_expr: tests/fuzz/fuzz_expr.c src/pg/pg_parse.c $(FUZZ_CORE)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ -lpg_query -lyaml -ljansson -lpthread -lm

FUZZ_SQL     := $(sort $(wildcard src/pg/pg_lint*.c src/pg/lint_rules.c src/pg/pg_convert*.c)) \
                src/pg/pg_sqlfile.c src/pg/pg_parse.c src/core/yaml_emit.c

build-fuzz/fuzz_sql: tests/fuzz/fuzz_sql.c $(FUZZ_SQL) $(FUZZ_CORE)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ -lpg_query -lyaml -ljansson -lpthread -lm

build-fuzz/fuzz_gate: tests/fuzz/fuzz_gate.c src/pg/pg_gate_sql.c src/pg/pg_parse.c $(FUZZ_CORE)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ -lpg_query -lyaml -ljansson -lpthread -lm

fuzz: deps build-fuzz/fuzz_migration build-fuzz/fuzz_expr build-fuzz/fuzz_sql build-fuzz/fuzz_gate
	@tests/run-fuzz.sh $(FUZZ_SECONDS)

format:
	clang-format -i src/*/*.c src/*/*.h include/*.h tests/unit/*.c

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability -Isrc -Iinclude src

clean:
	rm -rf build build-san build-fuzz shunt

-include $(shell find build build-san -name '*.d' 2>/dev/null)
