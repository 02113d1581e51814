#!/bin/sh
# Quality table for BENCHMARKS.md: every quantization method at Q4_0 and Q8_0
# (--pure: every 2-D weight in the type, as the llama.cpp figures in
# ../shared/oracle), measured with the bundled engine against the F32 model:
# `gguf-forge ppl -c 256 --kld-base F32` -> PPL, dPPL, mean KL divergence, top-1
# agreement.  Models: qwen2-tiny (nlp-valid.txt, wiki.test.raw) and stories260K
# (tinystories-valid-sample.txt).  Calibration: ../shared/data/calibration.txt
# (what the oracle's llama-imatrix used).  QUALITY_CHUNKS limits the chunks per
# text (default 100 = 25,600 tokens; 0: whole files, about 15 minutes a file on 2 cores for wiki.test.raw), QUALITY_METHODS selects rows, QUALITY_RECIPE the
# AutoRound recipe (default).  Not a test: numbers only.
set -e
BUILD=${BUILD:-build}
G=$BUILD/gguf-forge
SHARED=${GF_SHARED:-../shared}
OUT=${BENCH_OUT:-bench-out}/quality
CHUNKS=${QUALITY_CHUNKS:-100}
T=${BENCH_THREADS:-2}
CAL=$SHARED/data/calibration.txt
[ -f "$CAL" ] || { echo "quality: $SHARED not found (set GF_SHARED); skipping"; exit 0; }
mkdir -p "$OUT"
METHODS=${QUALITY_METHODS:-"minmax omse imatrix awq awq+omse autoround awq+autoround autoround-head"}
RECIPE=${QUALITY_RECIPE:-default}
args_of() { # method -> quantize arguments
    case $1 in
        minmax) echo "--blocks minmax --embed minmax" ;;
        omse) echo "--blocks omse --embed omse" ;;
        imatrix) echo "--blocks imatrix --embed imatrix --calib $CAL" ;;
        awq) echo "--blocks awq --embed minmax --calib $CAL" ;;
        awq+omse) echo "--blocks awq --embed omse --calib $CAL" ;;
        autoround) echo "--blocks autoround --embed omse --calib $CAL --recipe $RECIPE" ;;
        awq+autoround) echo "--blocks awq+autoround --embed omse --calib $CAL --recipe $RECIPE" ;;
        autoround-head) echo "--blocks autoround --embed autoround --output autoround --calib $CAL --recipe $RECIPE" ;;
        *) echo "unknown" ;;
    esac
}
chunks_arg=""
[ "$CHUNKS" -gt 0 ] && chunks_arg="--chunks $CHUNKS"
echo "## quality: gguf-forge ppl -c 256 against F32 ($([ "$CHUNKS" -gt 0 ] && echo "first $CHUNKS chunks" || echo "whole files"))"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); commit $(git rev-parse --short HEAD 2>/dev/null); AutoRound recipe: $RECIPE"
echo
echo "| model | text | type | method | PPL | ΔPPL | mean KLD | same top-1 % | quantize s |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in ${QUALITY_MODELS:-qwen2-tiny stories260K}; do
    M=$SHARED/models/$model/f32
    base=$OUT/$model-f32.gguf
    [ -f "$base" ] || "$G" quantize "$M" -o "$base" --type f32 --force -q
    if [ $model = qwen2-tiny ]; then texts="nlp-valid.txt wiki.test.raw"; else texts="tinystories-valid-sample.txt"; fi
    for type in ${QUALITY_TYPES:-q4_0 q8_0}; do
        for m in $METHODS; do
            f=$OUT/$model-$type-$m.gguf
            t0=$(date +%s.%N)
            "$G" quantize "$M" -o "$f" --type $type --pure $(args_of $m) --force -q -t $T 2>"$OUT/q.log" || {
                echo "| $model | - | $type | $m | quantize failed: $(tail -n 1 "$OUT/q.log") |"; continue; }
            qs=$(echo "$(date +%s.%N) - $t0" | bc)
            for text in $texts; do
                "$G" ppl "$f" -f "$SHARED/data/$text" -c 256 --kld-base "$base" -t $T $chunks_arg >"$OUT/ppl.log" 2>&1 || true
                ppl=$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\).*/\1/p' "$OUT/ppl.log")
                dppl=$(sed -n 's/^Mean PPL(Q)-PPL(base) *: *\([-0-9.]*\) *± *\([0-9.]*\).*/\1 ± \2/p' "$OUT/ppl.log")
                kld=$(sed -n 's/^Mean *KLD: *\([0-9.]*\) *± *\([0-9.]*\).*/\1 ± \2/p' "$OUT/ppl.log")
                top=$(sed -n 's/^Same top p: *\([0-9.]*\) *± *\([0-9.]*\).*/\1 ± \2/p' "$OUT/ppl.log")
                echo "| $model | $text | $type | $m | $ppl | $dppl | $kld | $top | $(printf %.1f "$qs") |"
            done
        done
    done
done
