#!/bin/sh
# Remakes this folder: llama.cpp's dequantization of every GGUF input type.
#   LLAMA=/path/to/llama.cpp (c392e50, built: build/bin/llama-quantize, libggml-base.so)
#   PY=/path/to/venv/bin/python (with llama.cpp's gguf-py and numpy)
#   sh make.sh
# 1. llama-quantize --pure the oracle's F32 qwen2-tiny to each type (1 thread);
# 2. make_dequant_input.py keeps two tensors of each (dequant-input.gguf);
# 3. dequant_ref (ggml's to_float) dequantizes them; dequant.sha256.txt lists
#    name, type, element count, SHA-256 of the floats, and the first 4 floats.
set -e
: "${LLAMA:?set LLAMA to a llama.cpp checkout with a build/}"; PY=${PY:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${GF_SHARED:-$HERE/../../../shared}
TYPES="F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS"
W=$(mktemp -d)
for t in $TYPES; do
    "$LLAMA/build/bin/llama-quantize" --pure "$SHARED/oracle/qwen2-tiny-f32.f32.gguf" "$W/tiny-$t.gguf" $t 1 >/dev/null 2>&1
done
"$PY" "$HERE/make_dequant_input.py" "$W" "$HERE/dequant-input.gguf" $TYPES
cc -O2 -I"$LLAMA/ggml/include" "$HERE/dequant_ref.c" -L"$LLAMA/build/bin" -lggml-base -o "$W/dequant_ref"
mkdir -p "$W/out"
LD_LIBRARY_PATH="$LLAMA/build/bin" "$W/dequant_ref" "$HERE/dequant-input.gguf" "$W/out" | while read name type n; do
    h=$(sha256sum "$W/out/$name.f32" | cut -d' ' -f1)
    first=$("$PY" -c "import struct,sys; print(' '.join(repr(v) for v in struct.unpack('<4f', open(sys.argv[1],'rb').read(16))))" "$W/out/$name.f32")
    echo "$name $type $n $h $first"
done > "$HERE/dequant.sha256.txt"
rm -rf "$W"
