#!/bin/sh
# make bench: speed and memory figures for BENCHMARKS.md, printed as markdown.
#   1. quantize: gguf-forge on a random-weight model of Qwen2.5-0.5B's exact shape
#      (BF16 safetensors, written once by bench/gen_model into bench-out/), to Q4_0
#      and Q8_0: wall time, MB/s of input read, peak RSS.  With LLAMA_CPP_DIR set
#      (a llama.cpp build directory holding bin/llama-quantize), llama-quantize is
#      run side by side from an F32 GGUF of the same weights, as in ../shared/oracle.
#   2. kernels: bench/bench_kernels (matmul GFLOP/s per kernel set and shape).
#   3. float GEMM, the engine (bench/engine.sh when present), HellaSwag tasks/s beside
#      llama-perplexity's (bench/eval.sh; BENCH_EVAL=0 skips it), and the quality
#      table of every method (bench/quality.sh; QUALITY_CHUNKS limits its length).
#   4. AutoRound on the whole 0.5B-shaped model per recipe (bench/autoround_model.sh, then
#      bench/cost_model.sh from its GFLOP/s;
#      AUTOROUND_RECIPES, default "light default": about 50 minutes; BENCH_AUTOROUND=0 skips it).
#   5. With GF_OLD=/path/to/an/older/gguf-forge: that binary and this one side by
#      side, taking turns (bench/versus.sh), for changes that must not cost speed.
# Every run warms the page cache first, so the input is read from memory, as in
# the oracle's llama-quantize figures.  Not a test: numbers only.
set -e
BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-bench-out}
G=$BUILD/gguf-forge
T=${BENCH_THREADS:-2}
mkdir -p "$OUT"
SHARED=${GF_SHARED:-../shared}
CFG=$SHARED/tokenizers/qwen2.5
if [ ! -f "$CFG/config.json" ]; then echo "bench: $CFG not found (set GF_SHARED); skipping"; exit 0; fi
M=$OUT/qwen2.5-0.5b-shape
[ -f "$M/model.safetensors" ] || "$BUILD/bench/gen_model" "$CFG" "$M" bf16

echo "## quantize: random-weight Qwen2.5-0.5B shape, BF16 input, $T threads"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; commit $(git rev-parse --short HEAD 2>/dev/null)"
echo
echo "| tool | input | output | wall s | MB/s read | peak RSS MB |"
echo "|---|---|---|---|---|---|"
in_mb=$(du -m "$M/model.safetensors" | cut -f1)
timed() { # label input output command...: best wall time of 3 runs and its peak RSS
    label=$1; inp=$2; outp=$3; shift 3
    best=""; rss=""
    for i in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" >/dev/null 2>&1
        read w r < "$OUT/time.txt"
        if [ -z "$best" ] || [ "$(echo "$w < $best" | bc)" = 1 ]; then best=$w; rss=$r; fi
    done
    mbs=$(echo "scale=0; $in_mb / $best" | bc 2>/dev/null || echo "-")
    echo "| $label | $inp | $outp | $best | $mbs | $((rss / 1024)) |"
}
cat "$M/model.safetensors" > /dev/null
for t in q4_0 q8_0; do
    timed "gguf-forge quantize" "BF16 safetensors" "$t" "$G" quantize "$M" -o "$OUT/ours-$t.gguf" --type $t --force -q -t $T
done
if [ -n "$LLAMA_CPP_DIR" ] && [ -x "$LLAMA_CPP_DIR/bin/llama-quantize" ]; then
    [ -f "$OUT/f32.gguf" ] || "$G" quantize "$M" -o "$OUT/f32.gguf" --type f32 --force -q
    in_mb=$(du -m "$OUT/f32.gguf" | cut -f1)
    cat "$OUT/f32.gguf" > /dev/null
    for t in q4_0 q8_0; do
        timed "llama-quantize" "F32 GGUF" "$t" "$LLAMA_CPP_DIR/bin/llama-quantize" "$OUT/f32.gguf" "$OUT/llama-$t.gguf" $(echo $t | tr a-z A-Z) $T
    done
    in_mb=$(du -m "$M/model.safetensors" | cut -f1)
    [ -f "$M/f32/model.safetensors" ] || { mkdir -p "$M/f32"; "$BUILD/bench/gen_model" "$CFG" "$M/f32" f32 >/dev/null 2>&1; }
    in_mb=$(du -m "$M/f32/model.safetensors" | cut -f1)
    cat "$M/f32/model.safetensors" > /dev/null
    timed "gguf-forge quantize" "F32 safetensors" "q4_0" "$G" quantize "$M/f32" -o "$OUT/ours-f32in-q4_0.gguf" --type q4_0 --force -q -t $T
else
    echo
    echo "(set LLAMA_CPP_DIR=/path/to/llama.cpp/build to time llama-quantize side by side)"
fi
echo
if [ -x "$BUILD/bench/bench_kernels" ]; then
    echo "## kernels: gf_matmul at Qwen2.5-0.5B shapes (GFLOP/s; model t/s = matmuls of one forward pass)"
    echo '```'
    "$BUILD/bench/bench_kernels" -t q4_0,q8_0 -n 1,512 -s 0.3
    echo '```'
fi
if [ -x "$BUILD/bench/bench_gemm" ]; then
    echo "## float GEMM (calibration, AWQ, AutoRound): GFLOP/s"
    echo '```'
    "$BUILD/bench/bench_gemm" -m 1,256,2048 -t 1,2
    echo '```'
fi
[ -f bench/engine.sh ] && sh bench/engine.sh
[ "${BENCH_EVAL:-1}" = 0 ] || BUILD=$BUILD BENCH_THREADS=$T sh bench/eval.sh
[ -z "$GF_OLD" ] || BUILD=$BUILD BENCH_THREADS=$T sh bench/versus.sh "$GF_OLD" "$G"
[ "${BENCH_QUALITY:-1}" = 0 ] || BUILD=$BUILD sh bench/quality.sh
[ "${BENCH_AUTOROUND:-1}" = 0 ] || BUILD=$BUILD BENCH_THREADS=$T sh bench/autoround_model.sh
exit 0
