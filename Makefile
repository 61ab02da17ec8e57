# rvf build. Out-of-tree in build/; `make V=1` for verbose commands.
#
# Layout conventions the rules below rely on (so modules can be added without
# editing this file):
#   user/<module>/*.c        -> librvf (except the service modules below)
#   user/bpfload/, user/net/ -> librvfsvc (the query service: BPF loader,
#                               sockets); linked into rvfd, tools and tests,
#                               never into librvf (the store knows no sockets)
#   user/*/*_avx2.c          -> built with AVX2+FMA flags only
#   user/*/*_avx512.c        -> built with AVX-512 flags only
#   user/rvfd/*.c            -> build/bin/rvfd
#   tools/<name>/*.c|*.cpp   -> build/bin/<name> (linked with g++ if C++ present)
#   tools/data/*.c           -> the data set readers (idx, fvecs, bvecs, ivecs,
#                               Fashion-MNIST, ground truth, synthetic data):
#                               linked into every tool, bench and test, never
#                               into librvf (the library reads no data sets)
#   tests/test_<mod>.c       -> build/tests/test_<mod> (ASan+UBSan, cmocka)
#   tests/*/test_<x>.c       -> build/tests/test_<x>  (crash/, bpf/, e2e/ ...)
#   tests/helpers/*.c        -> linked into every test
#   tests/fuzz/fuzz_<x>.c    -> build/fuzz/fuzz_<x> (clang, libFuzzer; make fuzz)
#                               and, entry renamed, into build/tests/test_fuzz_replay
#   bpf/*.bpf.c              -> build/bpf/*.bpf.o (clang -target bpf)

PREFIX  ?= /usr/local
DESTDIR ?=
B       := build
V       ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

CC      ?= gcc
CXX     ?= g++
CLANG   ?= clang

DEPS_OK := $(shell test -f /usr/include/liburing.h -a -f /usr/include/cmocka.h \
             -a -f /usr/include/xxhash.h -a -f /usr/include/jansson.h \
             -a -f /usr/include/bpf/libbpf.h -a -x /usr/sbin/bpftool && echo yes)
ifneq ($(DEPS_OK),yes)
$(info deps: something is missing; running tools/deps.sh)
$(shell bash tools/deps.sh >&2)
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral -Wpointer-arith -Wcast-align=strict \
           -Wundef -Wvla
# Include paths: the library, rvfd and the tests see user/ (internal headers);
# tools and benches see the public headers and tools/ only (tools/data,
# tools/<name>/), except the known violations in TOOLS_INTERNAL, which
# tools/check-layers.sh (a make test line) lists and keeps from growing.
INC_ALL := -Iinclude -Iuser -Itools -Itests/helpers
INC      = $(INC_ALL)
TOOLS_INTERNAL := tools/bench-dir tools/bench-store
CFLAGS_BASE = -std=gnu11 -g -D_GNU_SOURCE -fPIC $(INC) $(WARN) $(EXTRA_CFLAGS)
OPT     := -O2
CFLAGS   = $(CFLAGS_BASE) $(OPT)
SANFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
AVX2_FLAGS   := -mavx2 -mfma
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mavx2
LIBS    := -luring -lxxhash -lcrypto -ljansson -lxdp -lbpf -lelf -lz -lpthread -lm

SVC_MODS   := bpfload net
SVC_SRCS   := $(foreach m,$(SVC_MODS),$(wildcard user/$(m)/*.c))
LIB_SRCS   := $(filter-out user/rvfd/% $(SVC_MODS:%=user/%/%),$(wildcard user/*/*.c))
RVFD_SRCS  := $(wildcard user/rvfd/*.c)
LIB_OBJS   := $(LIB_SRCS:%.c=$(B)/obj/%.o)
ASAN_OBJS  := $(LIB_SRCS:%.c=$(B)/asan/%.o)
SVC_OBJS   := $(SVC_SRCS:%.c=$(B)/obj/%.o)
ASAN_SVC_OBJS := $(SVC_SRCS:%.c=$(B)/asan/%.o)
# what programs link: the service library (when it has sources) before librvf
LINK_LIBS  := $(if $(SVC_SRCS),$(B)/lib/librvfsvc.a) $(B)/lib/librvf.a
ASAN_LINK_LIBS := $(if $(SVC_SRCS),$(B)/asan/librvfsvc.a) $(B)/asan/librvf.a
RVFD_OBJS  := $(RVFD_SRCS:%.c=$(B)/obj/%.o)

# tools/data (dataset readers) and tools/harness (veth pairs, rvfd readiness)
# are not programs: their objects link into every tool and test.
DATA_SRCS  := $(wildcard tools/data/*.c tools/harness/*.c)
DATA_OBJS  := $(DATA_SRCS:%.c=$(B)/obj/%.o)
ASAN_DATA_OBJS := $(DATA_SRCS:%.c=$(B)/asan/%.o)
TOOL_DIRS  := $(filter-out data harness,$(patsubst tools/%/,%,$(sort $(dir $(wildcard tools/*/*.c tools/*/*.cpp)))))
TOOL_BINS  := $(TOOL_DIRS:%=$(B)/bin/%)

TEST_SRCS  := $(wildcard tests/test_*.c tests/*/test_*.c)
TEST_BINS  := $(addprefix $(B)/tests/,$(basename $(notdir $(TEST_SRCS))))
TEST_HELPER_SRCS := $(wildcard tests/helpers/*.c)
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(B)/asan/%.o)

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(BPF_SRCS:bpf/%.bpf.c=$(B)/bpf/%.bpf.o)

.PHONY: all test test-seeds tsan bench fuzz fuzz-build clean install deps run soak mutants
all: $(B)/lib/librvf.a $(B)/lib/librvf.so $(TOOL_BINS) $(if $(RVFD_SRCS),$(B)/bin/rvfd) $(BPF_OBJS)

deps:
	bash tools/deps.sh

# ---- objects -------------------------------------------------------------
$(B)/obj/tools/%.o $(B)/asan/tools/%.o $(B)/tsan/tools/%.o: INC = -Iinclude -Itools
$(foreach t,obj asan tsan,$(addprefix $(B)/$(t)/,$(addsuffix /%.o,$(filter-out %.c,$(TOOLS_INTERNAL))))): INC = $(INC_ALL)
$(foreach t,obj asan tsan,$(addprefix $(B)/$(t)/,$(patsubst %.c,%.o,$(filter %.c,$(TOOLS_INTERNAL))))): INC = $(INC_ALL)
$(B)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@
$(B)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(B)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) -std=c++17 -O3 -g -march=native -Iinclude -DNDEBUG -MMD -MP -c $< -o $@

$(B)/asan/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(SANFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@
$(B)/asan/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(SANFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@
$(B)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(SANFLAGS) -MMD -MP -c $< -o $@

# ---- library -------------------------------------------------------------
$(B)/lib/librvf.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/lib/librvf.so: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,librvf.so.0 -o $@ $^ $(LIBS)
$(B)/asan/librvf.a: $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/lib/librvfsvc.a: $(SVC_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/asan/librvfsvc.a: $(ASAN_SVC_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# ---- programs ------------------------------------------------------------
define TOOL_RULE
$(B)/bin/$(1): $(patsubst %.c,$(B)/obj/%.o,$(patsubst %.cpp,$(B)/obj/%.o,$(wildcard tools/$(1)/*.c tools/$(1)/*.cpp))) $(DATA_OBJS) $(LINK_LIBS)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$(if $(wildcard tools/$(1)/*.cpp),$$(CXX),$$(CC)) -o $$@ $$^ $$(LIBS)
endef
$(foreach t,$(TOOL_DIRS),$(eval $(call TOOL_RULE,$(t))))

$(B)/bin/rvfd: $(RVFD_OBJS) $(LINK_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) -o $@ $^ $(LIBS)

# ---- tests ---------------------------------------------------------------
# Every fuzz target's entry point, renamed rvf_fuzz_<name>, so the replay test
# runs the committed seeds and regression inputs through exactly the code the
# fuzzer ran (tests/fuzz/test_fuzz_replay.c). fuzz_input also reads through
# the CLI's input.c.
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_ENTRY_OBJS := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/asan/fuzz-entry/%.o)
TEST_EXTRA_test_fuzz_replay := $(FUZZ_ENTRY_OBJS) $(B)/asan/tools/rvf/input.o
$(B)/asan/fuzz-entry/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(SANFLAGS) -DLLVMFuzzerTestOneInput=rvf_$* -MMD -MP -c $< -o $@

define TEST_RULE
$(B)/tests/$(basename $(notdir $(1))): $(B)/asan/$(basename $(1)).o $(TEST_EXTRA_$(basename $(notdir $(1)))) $(TEST_HELPER_OBJS) $(ASAN_DATA_OBJS) $(ASAN_LINK_LIBS)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(SANFLAGS) -o $$@ $$^ -lcmocka $$(LIBS)
endef
$(foreach t,$(TEST_SRCS),$(eval $(call TEST_RULE,$(t))))

# ---- thread sanitizer (make tsan) ------------------------------------------
# The library and the multi-threaded suites built with -fsanitize=thread in
# their own tree; tools/tsan.sh runs them and fails on any report.
TSAN_FLAGS := -O1 -fsanitize=thread -fno-omit-frame-pointer
TSAN_OBJS  := $(LIB_SRCS:%.c=$(B)/tsan/%.o)
TSAN_TESTS := test_hnsw test_hnsw_update test_hnsw_edge test_store test_store_persist test_store_api test_cli test_cli_query test_cli_admin
TSAN_BINS  := $(TSAN_TESTS:%=$(B)/tsan/tests/%) $(B)/tsan/bin/rvf
$(B)/tsan/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-TSAN $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(TSAN_FLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@
$(B)/tsan/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-TSAN $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(TSAN_FLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@
$(B)/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-TSAN $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(TSAN_FLAGS) -MMD -MP -c $< -o $@
$(B)/tsan/librvf.a: $(TSAN_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/tsan/librvfsvc.a: $(SVC_SRCS:%.c=$(B)/tsan/%.o)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
TSAN_LINK_LIBS := $(if $(SVC_SRCS),$(B)/tsan/librvfsvc.a) $(B)/tsan/librvf.a
define TSAN_TEST_RULE
$(B)/tsan/tests/$(basename $(notdir $(1))): $(B)/tsan/$(basename $(1)).o $(TEST_HELPER_SRCS:%.c=$(B)/tsan/%.o) $(DATA_SRCS:%.c=$(B)/tsan/%.o) $(TSAN_LINK_LIBS)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(TSAN_FLAGS) -o $$@ $$^ -lcmocka $$(LIBS)
endef
$(foreach t,$(filter $(addprefix %/,$(TSAN_TESTS:%=%.c)),$(TEST_SRCS)),$(eval $(call TSAN_TEST_RULE,$(t))))
$(B)/tsan/bin/rvf: $(patsubst %.c,$(B)/tsan/%.o,$(wildcard tools/rvf/*.c) $(DATA_SRCS)) $(TSAN_LINK_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(TSAN_FLAGS) -o $@ $^ $(LIBS)

# ---- fuzz targets (clang + libFuzzer; make fuzz) ----------------------------
# The library is compiled once with coverage instrumentation into its own
# archive (SIMD flags only on the SIMD files, as in the real build); each
# target links against it.
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude -Iuser -Itools -Itests/helpers \
               -Wall -Wextra -Werror -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_OBJS  := $(LIB_SRCS:%.c=$(B)/fuzz/obj/%.o) $(DATA_SRCS:%.c=$(B)/fuzz/obj/%.o) $(B)/fuzz/obj/tools/rvf/input.o
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
$(B)/fuzz/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@
$(B)/fuzz/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@
$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(B)/fuzz/librvf-fuzz.a: $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(FUZZ_BINS): $(B)/fuzz/%: $(B)/fuzz/obj/tests/fuzz/%.o $(B)/fuzz/librvf-fuzz.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)
# Generated seeds (tests/fuzz/mkseeds.c), made with the plain library.
$(B)/fuzz/mkseeds: $(B)/obj/tests/fuzz/mkseeds.o $(B)/lib/librvf.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) -o $@ $^ $(LIBS)
# Crafted regression inputs (tests/fuzz/mkregress.c), likewise.
$(B)/fuzz/mkregress: $(B)/obj/tests/fuzz/mkregress.o $(B)/lib/librvf.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) -o $@ $^ $(LIBS)

# ---- bpf -----------------------------------------------------------------
# -fdebug-prefix-map keeps the checkout's path out of the object, so every
# checkout of one commit builds the same bytes (and the same built-in hash).
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_x86 -Iinclude -Ibpf -I/usr/include/x86_64-linux-gnu \
              -Wall -Werror -fdebug-prefix-map=$(CURDIR)=.
$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) include/rvf/wire.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The prefilter built into librvfsvc (rvf_bpf_builtin): its bytes by .incbin
# and its SHA-256, both taken from build/bpf/prefilter.bpf.o at build time.
PREFILTER_S := $(B)/gen/prefilter_obj.S
$(PREFILTER_S): $(B)/bpf/prefilter.bpf.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q){ printf '/* generated from %s; do not edit */\n' '$<'; \
	  printf '\t.section .rodata.prefilter_obj,"a"\n\t.balign 8\n'; \
	  printf '\t.globl prefilter_obj_start\n\t.hidden prefilter_obj_start\nprefilter_obj_start:\n'; \
	  printf '\t.incbin "%s"\n' '$<'; \
	  printf '\t.globl prefilter_obj_end\n\t.hidden prefilter_obj_end\nprefilter_obj_end:\n'; \
	  printf '\t.globl prefilter_obj_sha256\n\t.hidden prefilter_obj_sha256\nprefilter_obj_sha256:\n'; \
	  sha256sum $< | cut -c1-64 | sed 's/../0x&,/g; s/,$$//; s/^/\t.byte /'; \
	  printf '\t.section .note.GNU-stack,"",@progbits\n'; } > $@.tmp && mv $@.tmp $@
$(B)/obj/gen/prefilter_obj.o $(B)/asan/gen/prefilter_obj.o $(B)/tsan/gen/prefilter_obj.o: $(PREFILTER_S) $(B)/bpf/prefilter.bpf.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) -c $< -o $@
$(B)/lib/librvfsvc.a: $(B)/obj/gen/prefilter_obj.o
$(B)/asan/librvfsvc.a: $(B)/asan/gen/prefilter_obj.o
$(B)/tsan/librvfsvc.a: $(B)/tsan/gen/prefilter_obj.o

# Deliberately wrong prefilters for tests/bpf: another ABI version, a missing
# map, a program the verifier refuses (see bpf/prefilter.bpf.c).
BPF_TEST_OBJS := $(B)/bpf/test/prefilter_abi2.bpf.o $(B)/bpf/test/prefilter_nomembers.bpf.o \
                 $(B)/bpf/test/prefilter_reject.bpf.o
$(B)/bpf/test/prefilter_abi2.bpf.o: BPF_VARIANT := -DRVF_PF_ABI=2
$(B)/bpf/test/prefilter_nomembers.bpf.o: BPF_VARIANT := -DRVF_PF_NO_MEMBERS
$(B)/bpf/test/prefilter_reject.bpf.o: BPF_VARIANT := -DRVF_PF_VERIFIER_REJECT
$(BPF_TEST_OBJS): bpf/prefilter.bpf.c $(wildcard bpf/*.h) include/rvf/wire.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BPF     $@")
	$(Q)$(CLANG) $(BPF_CFLAGS) $(BPF_VARIANT) -c $< -o $@
$(B)/tests/test_bpf: | $(BPF_TEST_OBJS)
test: $(BPF_TEST_OBJS)

# ---- top-level jobs ------------------------------------------------------
# the crash proof: at least this many crash points over all crash suites
MIN_CRASH_POINTS := 10000
test: all $(TEST_BINS)
	$(Q)RVF_MIN_CRASH_POINTS=$(MIN_CRASH_POINTS) bash tests/run.sh $(TEST_BINS)

# each deliberate storage bug must fail a crash suite (not part of test: minutes)
mutants:
	$(Q)B=$(B) bash tools/mutants.sh

bench: all
	$(Q)bash tools/bench.sh

# The suites once per seed (tools/test-seeds.sh); tests read RVF_SEED at run
# time, so nothing is rebuilt per seed.
test-seeds: all $(TEST_BINS)
	$(Q)bash tools/test-seeds.sh $(TEST_BINS)

tsan: $(TSAN_BINS)
	$(Q)B=$(B) bash tools/tsan.sh $(TSAN_TESTS)

fuzz-build: $(FUZZ_BINS) $(B)/fuzz/mkseeds $(B)/fuzz/mkregress

fuzz: fuzz-build
	$(Q)B=$(B) bash tools/fuzz.sh $(FUZZ_BINS)

soak: all $(TEST_BINS)
	$(Q)RVF_SOAK=1 bash tests/run.sh $(TEST_BINS)

run: all
	$(Q)B=$(B) bash tools/demo.sh

clean:
	rm -rf $(B)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/rvf $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(B)/lib/librvf.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/lib/librvf.so $(DESTDIR)$(PREFIX)/lib/librvf.so.0
	ln -sf librvf.so.0 $(DESTDIR)$(PREFIX)/lib/librvf.so
	install -m 644 include/rvf/*.h $(DESTDIR)$(PREFIX)/include/rvf/
	for b in $(TOOL_BINS) $(if $(RVFD_SRCS),$(B)/bin/rvfd); do install -m 755 $$b $(DESTDIR)$(PREFIX)/bin/; done
	sed -e 's|@PREFIX@|$(PREFIX)|g' tools/rvf.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/rvf.pc

-include $(shell find $(B) -name '*.d' 2>/dev/null)
