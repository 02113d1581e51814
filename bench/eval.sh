#!/bin/sh
# HellaSwag speed (make bench): `gguf-forge eval --hellaswag` and `llama-perplexity
# --hellaswag` on the same file, tasks and threads, taking turns (best of REPS,
# default 3), tasks/s from wall time (model load included for both).  Models:
# qwen2-tiny F32 and Q4_0 (../shared/oracle) and, when bench/run.sh has written
# it, the random-weight Qwen2.5-0.5B-shaped Q4_0 file (EVAL_TASKS_BIG tasks, default 50), and
# the files in EVAL_EXTRA (space-separated paths, e.g. a real model's Q4_0; EVAL_TASKS_BIG tasks).
# llama-perplexity comes from LLAMA_CPP_DIR (a build directory with bin/; not a
# GGML_NATIVE build on AMX CPUs).  Also checks that both print the same final
# acc_norm.  Markdown out.  Not a test: numbers only.
set -e
BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-bench-out}
G=$BUILD/gguf-forge
T=${BENCH_THREADS:-2}
REPS=${REPS:-3}
SHARED=${GF_SHARED:-../shared}
HS=$SHARED/data/hellaswag-val-1000.txt
LP=${LLAMA_CPP_DIR:+$LLAMA_CPP_DIR/bin/llama-perplexity}
N=${EVAL_TASKS:-400}
NBIG=${EVAL_TASKS_BIG:-50}
[ -f "$HS" ] || { echo "bench/eval.sh: $HS not found (set GF_SHARED); skipping"; exit 0; }
mkdir -p "$OUT"
wall() { # log command...: wall seconds of one run, its stdout in log
    log=$1; shift
    /usr/bin/time -f "%e" -o "$OUT/eval-time.txt" "$@" >"$log" 2>/dev/null
    cat "$OUT/eval-time.txt"
}
last_acc() { grep -P '^\d+\t' "$1" | tail -n 1 | cut -f2; }
echo "## HellaSwag: tasks/s, gguf-forge eval vs llama-perplexity ($T threads, -c 512, best of $REPS, load included)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; commit $(git rev-parse --short HEAD 2>/dev/null)"
echo
echo "| model | tasks | gguf-forge tasks/s | llama-perplexity tasks/s | ours/llama | acc_norm ours | acc_norm llama |"
echo "|---|---|---|---|---|---|---|"
one() { # model tasks
    m=$1; n=$2
    : > "$OUT/eval-ours.txt"; : > "$OUT/eval-llama.txt"
    for i in $(seq "$REPS"); do
        wall "$OUT/eval-ours.log" "$G" eval "$m" --hellaswag "$HS" --tasks "$n" -t "$T" >> "$OUT/eval-ours.txt"
        [ -x "$LP" ] && wall "$OUT/eval-llama.log" "$LP" -m "$m" -f "$HS" --hellaswag --hellaswag-tasks "$n" -c 512 \
            -t "$T" >> "$OUT/eval-llama.txt"
    done
    o=$(sort -g "$OUT/eval-ours.txt" | head -n 1); ours=$(echo "scale=2; $n / $o" | bc)
    if [ -x "$LP" ]; then
        l=$(sort -g "$OUT/eval-llama.txt" | head -n 1); lt=$(echo "scale=2; $n / $l" | bc)
        echo "| $(basename "$m") | $n | $ours | $lt | $(echo "scale=2; $ours / $lt" | bc) | $(last_acc "$OUT/eval-ours.log") | $(last_acc "$OUT/eval-llama.log") |"
    else
        echo "| $(basename "$m") | $n | $ours | - | - | $(last_acc "$OUT/eval-ours.log") | - |"
    fi
}
for m in "$SHARED/oracle/qwen2-tiny-f32.f32.gguf" "$SHARED/oracle/qwen2-tiny-f32.q4_0.gguf"; do
    [ -f "$m" ] && one "$m" "$N"
done
[ -f "$OUT/ours-q4_0.gguf" ] && one "$OUT/ours-q4_0.gguf" "$NBIG"
for m in ${EVAL_EXTRA:-}; do [ -f "$m" ] && one "$m" "$NBIG"; done
[ -x "$LP" ] || echo "(set LLAMA_CPP_DIR=/path/to/llama.cpp/build to run llama-perplexity side by side)"
echo
