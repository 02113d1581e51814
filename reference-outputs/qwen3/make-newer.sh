#!/bin/sh
# Makes reference-outputs/qwen3/ppl-newer.txt, read by tests/test_qwen3.c: llama-perplexity of a llama.cpp newer
# than c392e50 (one that knows the qwen3 architecture) on gguf-forge's F32, Q8_0 and Q4_0 files (the default
# layout of `quantize --type T`) of test_qwen3's qwen3-q model (Qwen3-0.6B's config.json shrunk, tied, weights
# in [-0.1, 0.1]), 3 x 512 tokens of ../shared/data/nlp-valid.txt, -t 2.
# The newer llama.cpp is the tree vendored in the llama-cpp-python 0.3.36 source distribution, built outside the
# repository without AMX (whose Q4_0 results are wrong on AMX CPUs, see ../smollm2 and ../llama3):
#   pip download --no-deps --no-binary :all: llama_cpp_python==0.3.36; tar xzf llama_cpp_python-0.3.36.tar.gz
#   cd llama_cpp_python-0.3.36/vendor/llama.cpp
#   cmake -B build-noamx -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
#     -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF \
#     -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-noamx -j2 --target llama-perplexity
# Run from the repository root: NEWER_BIN=that/build-noamx/bin sh reference-outputs/qwen3/make-newer.sh
set -eu
BIN=${NEWER_BIN:-/work/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp/build-noamx/bin}
CHUNKS=3
out=reference-outputs/qwen3/ppl-newer.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
make -s build/tests/test_qwen3 gguf-forge
mkdir -p "$tmp/m"
build/tests/test_qwen3 --write "$tmp/m"
{
    echo "# llama-perplexity of the llama.cpp tree vendored in llama-cpp-python 0.3.36 (build without AMX),"
    echo "#   -c 512 -t 2 --chunks $CHUNKS -f ../shared/data/nlp-valid.txt, on gguf-forge quantize --type T of"
    echo "#   test_qwen3 --write's qwen3-q; made by reference-outputs/qwen3/make-newer.sh on $(date -u +%Y-%m-%d)"
    echo "# model | type | chunks | PPL | +/-"
} >"$out"
for t in f32 q8_0 q4_0; do
    ./gguf-forge quantize "$tmp/m/qwen3-q" -o "$tmp/$t.gguf" --type $t >/dev/null 2>&1
    LD_LIBRARY_PATH=$BIN "$BIN/llama-perplexity" -m "$tmp/$t.gguf" -f ../shared/data/nlp-valid.txt -c 512 -t 2 \
        --chunks $CHUNKS >"$tmp/$t.log" 2>&1 || { cat "$tmp/$t.log" >&2; exit 1; }
    grep 'Final estimate' "$tmp/$t.log" | sed -E "s/.*PPL = ([0-9.e+]+) \+\/- ([0-9.e+]+).*/qwen3-q $t $CHUNKS \1 \2/" \
        >>"$out"
done
cat "$out"
