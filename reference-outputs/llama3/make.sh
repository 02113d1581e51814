#!/bin/sh
# Makes ppl.txt: llama.cpp's perplexity of the test models of tests/test_llama3.c
# (Llama-3.2-1B's config.json shrunk, random weights; with its llama3 rope_scaling
# and with rope_scaling null), converted to F32 by gguf-forge.  The first file has
# rope_freqs.weight, which llama.cpp applies as GGML's rope freq_factors; the two
# figures differ, so the test sees whether our engine applies the factors as llama.cpp
# does.  Run from the repository root after `make`; needs ../shared/data/nlp-valid.txt
# and llama.cpp's build in LLAMA_BIN (default /work/llama.cpp/build-noamx/bin; not a
# GGML_NATIVE build on AMX CPUs).
set -eu
LLAMA_BIN=${LLAMA_BIN:-/work/llama.cpp/build-noamx/bin}
CHUNKS=3
out=reference-outputs/llama3/ppl.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
make -s build/tests/test_llama3 gguf-forge
build/tests/test_llama3 --write "$tmp"
{
    echo "# llama-perplexity (llama.cpp c392e50, the tree has no .git; build $LLAMA_BIN, version 0 unknown)"
    echo "#   -c 512 -t 2 --chunks $CHUNKS -f ../shared/data/nlp-valid.txt, on gguf-forge quantize --type f32 of"
    echo "#   tests/test_llama3 --write's models; made by reference-outputs/llama3/make.sh on $(date -u +%Y-%m-%d)"
    echo "# model | chunks | PPL | +/-"
} >"$out"
for m in llama3 llama3-plain; do
    ./gguf-forge quantize "$tmp/$m" -o "$tmp/$m.gguf" --type f32 >/dev/null 2>&1
    "$LLAMA_BIN/llama-perplexity" -m "$tmp/$m.gguf" -f ../shared/data/nlp-valid.txt -c 512 -t 2 --chunks $CHUNKS \
        >"$tmp/$m.log" 2>&1
    grep 'Final estimate' "$tmp/$m.log" | sed -E "s/.*PPL = ([0-9.e+]+) \+\/- ([0-9.e+]+).*/$m $CHUNKS \1 \2/" >>"$out"
done
cat "$out"
