#!/bin/sh
# Remakes this folder and ../ppl/qwen2-tiny-kquants-20chunks.txt: llama.cpp's K-quant files of qwen2-tiny and
# their perplexities, the references of the engine test for GGUF files whose matrices are Q4_K/Q5_K/Q6_K.
#   LLAMA=/path/to/llama.cpp (c392e50, built: build/bin/llama-quantize, build/bin/llama-perplexity)
#   sh make.sh
# 1. llama-quantize (the default mixes, not --pure) the oracle's F32 qwen2-tiny to Q4_K_M and Q6_K, 2 threads;
# 2. llama-perplexity -c 256 -b 256 -t 2 --chunks 20 on nlp-valid.txt: the F32 file writes its logits
#    (--kl-divergence-base), each K-quant file is compared with them (--kl-divergence);
# 3. the final figures go to ../ppl/qwen2-tiny-kquants-20chunks.txt, the closing statistics of each run to logs/.
set -e
: "${LLAMA:?set LLAMA to a llama.cpp checkout with a build/}"
BIN=$LLAMA/build/bin
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${GF_SHARED:-$HERE/../../../shared}
SRC=$SHARED/oracle/qwen2-tiny-f32.f32.gguf
TXT=$SHARED/data/nlp-valid.txt
OUT=$HERE/../ppl/qwen2-tiny-kquants-20chunks.txt
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
PPL="-c 256 -b 256 -t 2 --chunks 20"

"$BIN/llama-quantize" "$SRC" "$HERE/qwen2-tiny-f32.q4_k_m.gguf" Q4_K_M 2 >"$W/q4_k_m.quant.log" 2>&1
"$BIN/llama-quantize" "$SRC" "$HERE/qwen2-tiny-f32.q6_k.gguf" Q6_K 2 >"$W/q6_k.quant.log" 2>&1

mkdir -p "$HERE/logs"
# closing: the lines of a llama-perplexity log from its final figures on (the model listing is left out)
closing() { sed -n '/^Final estimate\|^====== Perplexity statistics\|^\[1\]/,$p' "$1" | grep -v '^llama_perf\|^$'; }
"$BIN/llama-perplexity" -m "$SRC" -f "$TXT" $PPL --kl-divergence-base "$W/f32.kld" >"$W/f32.log" 2>&1
closing "$W/f32.log" >"$HERE/logs/f32.txt"
for t in q4_k_m q6_k; do
    "$BIN/llama-perplexity" -m "$HERE/qwen2-tiny-f32.$t.gguf" -f "$TXT" $PPL \
        --kl-divergence-base "$W/f32.kld" --kl-divergence >"$W/$t.log" 2>&1
    closing "$W/$t.log" >"$HERE/logs/$t.txt"
done

# figure NAME LOG: one line "nlp-valid.txt NAME PPL +/- KLD top-1%"
figure() {
    if [ "$1" = f32 ]; then
        sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/nlp-valid.txt f32 \1 \2 - -/p' "$2"
    else
        ppl=$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\) ± *\([0-9.]*\).*/\1 \2/p' "$2")
        kld=$(sed -n 's/^Mean    KLD: *\([0-9.-]*\) ± .*/\1/p' "$2")
        top=$(sed -n 's/^Same top p: *\([0-9.]*\) ± .*/\1/p' "$2")
        echo "nlp-valid.txt $1 $ppl $kld $top"
    fi
}
{
    echo "# llama-perplexity (llama.cpp c392e50, x86-64 AVX2/AVX-512 build) $PPL, first 20 chunks of ../shared/data/nlp-valid.txt,"
    echo "# on llama.cpp's K-quant files of the oracle's F32 qwen2-tiny (../kquants/, made by ../kquants/make.sh):"
    echo "#   llama-quantize qwen2-tiny-f32.f32.gguf qwen2-tiny-f32.{q4_k_m,q6_k}.gguf {Q4_K_M,Q6_K} 2   (not --pure)"
    echo "#   llama-perplexity -m qwen2-tiny-f32.f32.gguf -f nlp-valid.txt $PPL --kl-divergence-base f32.kld"
    echo "#       -> \"Final estimate: PPL = ... +/- ...\""
    echo "#   llama-perplexity -m qwen2-tiny-f32.{q4_k_m,q6_k}.gguf -f nlp-valid.txt $PPL --kl-divergence-base f32.kld --kl-divergence"
    echo "#       -> \"Mean PPL(Q)\" and its ±, \"Mean    KLD\", \"Same top p\" (%)"
    echo "# The closing statistics of each run are in ../kquants/logs/."
    echo "# text file | type | PPL | +/- | KLD mean vs F32 | same top-1 %"
    figure f32 "$W/f32.log"
    figure q4_k_m "$W/q4_k_m.log"
    figure q6_k "$W/q6_k.log"
} >"$OUT"
cat "$OUT"
