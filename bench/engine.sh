#!/bin/sh
# Engine speed on a random-weight model of Qwen2.5-0.5B's exact shape, Q4_0
# (token_embd Q8_0) and Q8_0, 1 and 2 threads: `gguf-forge bench -p 512 -n 128
# -r 3`, and llama.cpp's `llama-bench` on the same files when LLAMA_CPP_DIR is a
# llama.cpp build directory (bin/llama-bench).  Run by bench/run.sh after it has
# written bench-out/ours-{q4_0,q8_0}.gguf.  Not a test: numbers only.
BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-bench-out}
G=$BUILD/gguf-forge
echo "## engine: pp512 / tg128 on the Qwen2.5-0.5B shape (t/s, mean ± sd of 3 runs)"
echo
for t in q4_0 q8_0; do
    f=$OUT/ours-$t.gguf
    [ -f "$f" ] || { echo "(no $f: run make bench)"; continue; }
    for th in 1 2; do
        echo "gguf-forge $t, $th thread(s):"
        "$G" bench "$f" -p 512 -n 128 -r 3 -t $th | tail -n 2
        if [ -n "$LLAMA_CPP_DIR" ] && [ -x "$LLAMA_CPP_DIR/bin/llama-bench" ]; then
            echo "llama-bench $t, $th thread(s):"
            "$LLAMA_CPP_DIR/bin/llama-bench" -m "$f" -p 512 -n 128 -r 3 -t $th -o md 2>/dev/null | grep -E "(pp|tg)[0-9]+ "
        fi
    done
done
