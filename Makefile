# gguf-forge - one Makefile, explicit source lists, per-file SIMD flags.
#   make            build ./gguf-forge
#   make test       build and run every test program (installs missing Debian packages first)
#   make demo       quantize the bundled qwen2-tiny model by min-max and AutoRound, compare their KLDs
#   make asan       the whole test suite under AddressSanitizer + UBSan (GF_SANITIZED: the slowest comparisons take a subset)
#   make fuzz       libFuzzer campaigns (clang)
#   make bench      benchmarks (see BENCHMARKS.md)
#   make MPI=1      ./gguf-forge-mpi: mpicc, -DGF_MPI (data-parallel AutoRound), objects in build-mpi

CC      ?= gcc
# MPI=1: the same sources through mpicc with -DGF_MPI (calib/dist.c), in their own build folder
ifeq ($(MPI),1)
CC      := mpicc
BUILD   ?= build-mpi
MPIFLAGS = -DGF_MPI
endif
BUILD   ?= build
GF_SHARED ?= ../shared
OPT     ?= -O2
WARN    = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS  ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -fopenmp $(MPIFLAGS) $(CFLAGS)
LDLIBS  = -fopenmp -lcjson -lpcre2-8 -lz -lm
ARCH    := $(shell $(CC) -dumpmachine | cut -d- -f1)

# ---------------------------------------------------------------- sources
COMMON_SRC   = common/gf.c common/types.c common/dequant.c common/reader.c common/textfile.c
FORMATS_SRC  = formats/arch.c formats/gguf.c formats/safetensors.c formats/hfconfig.c formats/outfile.c formats/json.c formats/imatrix.c formats/hfload.c formats/lora.c formats/gguf_source.c formats/evalfile.c
VOCAB_SRC    = formats/vocab.c formats/vocab_hf.c
QUANT_SRC    = quantizers/method.c search/scale.c
CALIB_SRC    = calib/calib.c calib/probe.c calib/awq.c calib/autoround.c calib/checkpoint.c calib/autoround_exact.c calib/dist.c calib/gridsum.c calib/e2e.c
CALIB_ASM    = calib/default_text.S
CONVERT_SRC  = convert/convert.c convert/resume.c
TOKENIZER_SRC = engine/tokenizer.c engine/tokenizer_bpe.c engine/tokenizer_spm.c
KERNELS_SRC  = engine/cpu.c engine/kernels.c engine/kernels_scalar.c
KERNELS_X86_SRC = engine/kernels_avx2.c
KERNELS_ARM_SRC = engine/kernels_neon.c
GEMM_SRC     = engine/gemm.c engine/gemm_scalar.c
GEMM_X86_SRC = engine/gemm_avx2.c
GEMM_ARM_SRC = engine/gemm_neon.c
ENGINE_SRC   = engine/model.c engine/norm.c engine/forward.c engine/ppl.c engine/eval.c engine/backward.c
CLI_SRC      = cli/main.c cli/quantize.c cli/inspect.c cli/ppl.c cli/run.c cli/eval.c cli/report.c cli/report_svg.c cli/bench.c cli/tune.c

ifeq ($(ARCH),x86_64)
KERNELS_SRC += $(KERNELS_X86_SRC)
GEMM_SRC += $(GEMM_X86_SRC)
endif
ifeq ($(ARCH),aarch64)
KERNELS_SRC += $(KERNELS_ARM_SRC)
GEMM_SRC += $(GEMM_ARM_SRC)
endif

LIB_SRC = $(COMMON_SRC) $(FORMATS_SRC) $(VOCAB_SRC) $(QUANT_SRC) $(CALIB_SRC) $(CONVERT_SRC) \
          $(TOKENIZER_SRC) $(KERNELS_SRC) $(GEMM_SRC) $(ENGINE_SRC)
LIB_SRC := $(wildcard $(LIB_SRC))
CLI_SRC := $(wildcard $(CLI_SRC))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o) $(CALIB_ASM:%.S=$(BUILD)/%.o)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)

# Per-file flags: reference quantizers must not contract x*id+c into an FMA.
$(BUILD)/common/types.o: XFLAGS = -ffp-contract=off -O3
$(BUILD)/common/dequant.o: XFLAGS = -ffp-contract=off -O3
$(BUILD)/formats/safetensors.o: XFLAGS = -O3
$(BUILD)/search/scale.o: XFLAGS = -ffp-contract=off -O3
$(BUILD)/engine/kernels_avx2.o: XFLAGS = -mavx2 -mfma -mf16c
# Baseline ARMv8-A: the SDOT functions carry their own target("arch=armv8.2-a+dotprod"), so the
# compiler cannot slip SDOT into the plain-NEON kernels a Cortex-A53 must run.
$(BUILD)/engine/kernels_neon.o: XFLAGS = -march=armv8-a
# GEMM: the reference's double sums must not become FMAs on CPUs that have them;
# the AVX2 micro-kernels need no F16C.
$(BUILD)/engine/gemm_scalar.o: XFLAGS = -ffp-contract=off -O3
$(BUILD)/engine/gemm_avx2.o: XFLAGS = -mavx2 -mfma -O3
$(BUILD)/engine/gemm_neon.o: XFLAGS = -march=armv8-a -O3

# ---------------------------------------------------------------- tests
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# fuzz targets also build as plain programs that replay their corpus (make test)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_REPLAY_BIN = $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all deps test demo asan fuzz bench clean
ifeq ($(MPI),1)
all: gguf-forge-mpi
else
all: gguf-forge
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(XFLAGS) -MMD -MP -c $< -o $@

# the built-in calibration text (assembler .incbin, path relative to this folder)
$(BUILD)/calib/default_text.o: calib/default_text.S calib/default-calibration.txt
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/libgf.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/gguf-forge: $(CLI_OBJ) $(BUILD)/libgf.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS)

gguf-forge: $(BUILD)/gguf-forge
	cp $< $@

# the MPI build has its own name, so that it never replaces the plain ./gguf-forge
gguf-forge-mpi: $(BUILD)/gguf-forge
	cp $< $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libgf.a tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libgf.a $(LDLIBS)

$(BUILD)/fuzz/%: fuzz/%.c $(BUILD)/libgf.a fuzz/fuzz_replay.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DGF_FUZZ_REPLAY -o $@ $< $(BUILD)/libgf.a $(LDLIBS)

deps:
	@sh scripts/deps.sh

# the bad-input suite's generator (tests/test_bad_inputs.sh runs it); not a test_* program
$(BUILD)/tests/gen_bad: tests/gen_bad.c $(BUILD)/libgf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libgf.a $(LDLIBS)

test: deps $(BUILD)/gguf-forge $(TEST_BIN) $(FUZZ_REPLAY_BIN) $(BUILD)/tests/gen_bad
	@[ -n "$(NO_ARM64)" ] || sh scripts/deps.sh arm64 || echo "warning: aarch64 cross tools not installed; test_arm64 will be skipped"
	@if command -v $(ARM64_CC) >/dev/null 2>&1 && [ "$(ARCH)" = x86_64 ] && [ -z "$(NO_ARM64)" ]; then \
	    $(MAKE) --no-print-directory -s $(BUILD)/arm64/test_kernels $(BUILD)/arm64/test_gemm && \
	    $(MAKE) --no-print-directory -s CC=$(ARM64_CC) BUILD=$(BUILD)-arm64 $(BUILD)-arm64/gguf-forge; fi
	@GF_SHARED=$(GF_SHARED) BUILD=$(BUILD) OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} sh tests/run.sh $(TEST_BIN)

# libFuzzer campaigns: FUZZ_SECONDS per target, at most FUZZ_RUNS executions when set, targets
# FUZZ_TARGETS (default all) (clang); corpus grows in build-fuzz/<target>
fuzz:
	@sh scripts/deps.sh dev
	@$(MAKE) --no-print-directory -s BUILD=build-fuzz/lib CC=clang \
	    OPT="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" build-fuzz/lib/libgf.a
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_TARGETS="$(FUZZ_TARGETS)" sh fuzz/run.sh build-fuzz/lib/libgf.a

demo: deps gguf-forge
	@sh scripts/demo.sh ./gguf-forge

BENCH_BIN = $(BUILD)/bench/gen_model $(BUILD)/bench/bench_kernels $(BUILD)/bench/bench_gemm $(BUILD)/bench/bench_autoround
$(BUILD)/bench/%: bench/%.c $(BUILD)/libgf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libgf.a $(LDLIBS)

bench: $(BUILD)/gguf-forge $(BENCH_BIN)
	@sh scripts/deps.sh bench
	@BUILD=$(BUILD) GF_SHARED=$(GF_SHARED) sh bench/run.sh

asan:
	@sh scripts/deps.sh dev
	$(MAKE) BUILD=build-asan CC=clang NO_ARM64=1 OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -DGF_SANITIZED=1" test

clean:
	rm -rf build build-* gguf-forge gguf-forge-mpi

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# ---------------------------------------------------------------- kernels on aarch64
# tests/test_kernels.c cross-compiled (static, so no arm64 libraries are needed)
# and run under qemu twice: with SDOT (-cpu max) and without it (-cpu cortex-a53),
# so both the neon-dot and the plain neon sets are exercised.
ARM64_CC   ?= aarch64-linux-gnu-gcc
ARM64_QEMU ?= qemu-aarch64-static
ARM64_SRC  = common/gf.c common/types.c common/dequant.c engine/cpu.c engine/kernels.c engine/kernels_scalar.c engine/kernels_neon.c \
             engine/gemm.c engine/gemm_scalar.c engine/gemm_neon.c
ARM64_HDR  = common/gf.h common/types.h engine/cpu.h engine/kernels.h engine/kernels_internal.h tests/check.h \
             engine/gemm.h engine/gemm_internal.h

$(BUILD)/arm64/test_kernels: tests/test_kernels.c $(ARM64_SRC) $(ARM64_HDR)
	@mkdir -p $(dir $@)
	$(ARM64_CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -ffp-contract=off -march=armv8-a -fopenmp -static \
	    -o $@ tests/test_kernels.c $(ARM64_SRC) -lm

$(BUILD)/arm64/test_gemm: tests/test_gemm.c $(ARM64_SRC) $(ARM64_HDR)
	@mkdir -p $(dir $@)
	$(ARM64_CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -ffp-contract=off -march=armv8-a -fopenmp -static \
	    -o $@ tests/test_gemm.c $(ARM64_SRC) -lm

.PHONY: test-arm64
test-arm64: $(BUILD)/arm64/test_kernels $(BUILD)/arm64/test_gemm
	$(ARM64_QEMU) -cpu max $(BUILD)/arm64/test_kernels
	$(ARM64_QEMU) -cpu cortex-a53 $(BUILD)/arm64/test_kernels
	$(ARM64_QEMU) -cpu max $(BUILD)/arm64/test_gemm
