#!/bin/sh
# Quality on a real trained model (issue 11): a GGUF source such as SmolLM2-135M-Instruct
# (Q4_1, from bench/fetch_models.sh) is dequantized to F32 by gguf-forge (the reference of
# every figure: its weights are on a 4-bit grid, so the original float model is not
# available), then quantized by every method at Q4_0 (--pure and the default layout) and
# Q8_0, and each file measured with the bundled engine against that F32:
# `gguf-forge ppl -c 512 --kld-base F32 --chunks N` on ../shared/data/wiki.test.raw.
# Files of other tools (llama-quantize's, REAL_EXTRA="name=path ...") get the same rows.
# Usage: bench/real_model.sh SOURCE.gguf [OUT_DIR]; REAL_CHUNKS (default 40),
# REAL_METHODS, REAL_RECIPE (AutoRound, default light), REAL_CALIB (imatrix/AWQ calibration,
# default 32 samples x 256 tokens: the 128 x 512 default is ~15 min of float forward on 2 cores),
# REAL_TYPES (default "q4_0 q8_0"; "none" measures only REAL_EXTRA), REAL_LAYOUTS (default
# "pure default"), BENCH_THREADS.  Numbers only.
set -e
BUILD=${BUILD:-build}
G=$BUILD/gguf-forge
SHARED=${GF_SHARED:-../shared}
SRC=$1
OUT=${2:-${BENCH_OUT:-bench-out}/real}
CHUNKS=${REAL_CHUNKS:-40}
T=${BENCH_THREADS:-2}
CAL=$SHARED/data/calibration.txt
TEXT=$SHARED/data/wiki.test.raw
[ -f "$SRC" ] || { echo "real_model: no source model '$SRC' (bench/fetch_models.sh fetches one); skipping"; exit 0; }
[ -f "$TEXT" ] || { echo "real_model: $SHARED not found (set GF_SHARED); skipping"; exit 0; }
mkdir -p "$OUT"
METHODS=${REAL_METHODS:-"minmax omse imatrix awq autoround"}
RECIPE=${REAL_RECIPE:-light}
CALIB_SIZE=${REAL_CALIB:-"--nsamples 32 --seqlen 256"}
args_of() { # method -> quantize arguments (heads: the method's own choice unless said)
    case $1 in
        minmax) echo "--blocks minmax" ;;
        omse) echo "--blocks omse --embed omse" ;;
        imatrix) echo "--blocks imatrix --embed imatrix --calib $CAL $CALIB_SIZE" ;;
        awq) echo "--blocks awq --calib $CAL $CALIB_SIZE" ;;
        autoround) echo "--blocks autoround --embed omse --calib $CAL --recipe $RECIPE" ;;
    esac
}
name=$(basename "$SRC" .gguf)
base=$OUT/$name-f32.gguf
[ -f "$base" ] || "$G" quantize "$SRC" -o "$base" --type f32 --force -q 2>/dev/null
measure() { # label file seconds
    "$G" ppl "$2" -f "$TEXT" -c 512 --kld-base "$base" -t $T --chunks $CHUNKS >"$OUT/ppl.log" 2>&1 || true
    ppl=$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\).*/\1/p' "$OUT/ppl.log")
    kld=$(sed -n 's/^Mean *KLD: *\([0-9.]*\) *± *\([0-9.]*\).*/\1 ± \2/p' "$OUT/ppl.log")
    top=$(sed -n 's/^Same top p: *\([0-9.]*\) *± *\([0-9.]*\).*/\1 ± \2/p' "$OUT/ppl.log")
    mb=$(( $(stat -c %s "$2") / 1000000 ))
    echo "| $1 | $mb | $ppl | $kld | $top | $3 |"
}
echo "## $name: gguf-forge ppl -c 512, first $CHUNKS chunks of wiki.test.raw, against the dequantized source (F32)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $T threads; commit $(git rev-parse --short HEAD 2>/dev/null); AutoRound recipe: $RECIPE"
echo
echo "| file | MB | PPL | mean KLD | same top-1 % | quantize s |"
echo "|---|---|---|---|---|---|"
"$G" ppl "$base" -f "$TEXT" -c 512 -t $T --chunks $CHUNKS >"$OUT/ppl.log" 2>&1 || true
echo "| F32 (dequantized source) | $(( $(stat -c %s "$base") / 1000000 )) | $(sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p' "$OUT/ppl.log") | 0 | 100 | - |"
for type in ${REAL_TYPES:-q4_0 q8_0}; do
    [ $type = none ] && continue
    for layout in ${REAL_LAYOUTS:-pure default}; do
        [ $type = q8_0 ] && [ $layout = default ] && continue # q8_0's default layout is --pure
        for m in $METHODS; do
            f=$OUT/$name-$type-$layout-$m.gguf
            pure=""; [ $layout = pure ] && pure="--pure"
            t0=$(date +%s.%N)
            "$G" quantize "$SRC" -o "$f" --type $type $pure $(args_of $m) --force -q -t $T 2>"$OUT/q.log" || {
                echo "| $type $layout $m | quantize failed: $(tail -n 1 "$OUT/q.log") |"; continue; }
            measure "gguf-forge $type $layout $m" "$f" "$(printf %.1f "$(echo "$(date +%s.%N) - $t0" | bc)")"
        done
    done
done
for e in $REAL_EXTRA; do measure "${e%%=*}" "${e#*=}" "${REAL_EXTRA_TIME:--}"; done
