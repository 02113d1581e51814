#!/bin/sh
# Which method the embedding and the output head should get when calibration runs anyway (issue 14): every
# head method for each role, the decoder blocks' method fixed, Q4_0, each file's mean KLD and same top-1 against
# the model's F32 measured by `gguf-forge ppl --kld-base`. A tied model's embedding is its output head too; an
# untied copy (bench/untie.py: lm_head = a copy of the embedding) gives each role its own matrix.
# Usage: bench/head_methods.sh [NAME=MODEL:TEXT:CTX ...]   (default: the shared qwen2-tiny and stories260K, tied
#   and untied). MODEL is an HF folder or a GGUF; HM_BLOCKS the block method (default autoround), HM_RECIPE
#   (light), HM_CALIB (calibration size, e.g. "--nsamples 32 --seqlen 128": fixed, so that a tuning head method
#   does not bring the recipe's sizes to a block method that has its own), HM_LAYOUTS ("pure default"), HM_CHUNKS
#   (40), HM_OUT (bench-out/heads), BENCH_THREADS.  Numbers only.
set -e
BUILD=${BUILD:-build}
G=$BUILD/gguf-forge
SHARED=${GF_SHARED:-../shared}
OUT=${HM_OUT:-${BENCH_OUT:-bench-out}/heads}
T=${BENCH_THREADS:-2}
BLOCKS=${HM_BLOCKS:-autoround}
RECIPE=${HM_RECIPE:-light}
CHUNKS=${HM_CHUNKS:-40}
CAL=$SHARED/data/calibration.txt
mkdir -p "$OUT"
if [ $# -eq 0 ]; then
    [ -d "$SHARED/models" ] || { echo "head_methods: $SHARED not found (set GF_SHARED); skipping"; exit 0; }
    python3 bench/untie.py "$SHARED/models/qwen2-tiny/f32" "$OUT/qwen2-tiny-untied" 2>/dev/null || true
    python3 bench/untie.py "$SHARED/models/stories260K/f32" "$OUT/stories260K-untied" 2>/dev/null || true
    set -- "qwen2-tiny=$SHARED/models/qwen2-tiny/f32:$SHARED/data/nlp-valid.txt:256" \
        "qwen2-tiny-untied=$OUT/qwen2-tiny-untied:$SHARED/data/nlp-valid.txt:256" \
        "stories260K=$SHARED/models/stories260K/f32:$SHARED/data/tinystories-valid-sample.txt:256" \
        "stories260K-untied=$OUT/stories260K-untied:$SHARED/data/tinystories-valid-sample.txt:256"
fi
echo "## head methods at Q4_0, blocks: $BLOCKS (recipe $RECIPE), calibration $CAL ${HM_CALIB:-}; KLD against F32"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $T threads; commit $(git rev-parse --short HEAD 2>/dev/null)"
echo
echo "| model | layout | --embed | --output | mean KLD | same top-1 % | quantize s |"
echo "|---|---|---|---|---|---|---|"
for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}
    model=${rest%%:*}; rest=${rest#*:}
    text=${rest%%:*}; ctx=${rest#*:}
    base=$OUT/$name-f32.gguf
    "$G" quantize "$model" -o "$base" --type f32 --force -q 2>/dev/null
    untied=$("$G" inspect "$base" | grep -c ' output\.weight ' || true)
    if [ "$untied" -gt 0 ]; then # each role on its own, the other role at the best single choice
        pairs="omse:minmax omse:omse omse:imatrix omse:autoround minmax:autoround imatrix:autoround autoround:autoround"
    else
        pairs="minmax:- omse:- imatrix:- autoround:-"
    fi
    for layout in ${HM_LAYOUTS:-pure default}; do
        pure=""; [ $layout = pure ] && pure="--pure"
        for pr in $pairs; do
            e=${pr%%:*}; o=${pr#*:}
            oarg=""; [ "$o" != - ] && oarg="--output $o"
            f=$OUT/$name-$layout-$e-$o.gguf
            t0=$(date +%s.%N)
            "$G" quantize "$model" -o "$f" --type q4_0 $pure --blocks $BLOCKS --recipe $RECIPE --calib "$CAL" \
                ${HM_CALIB:-} --embed $e $oarg --force -q -t $T 2>"$OUT/q.log" || {
                echo "| $name | $layout | $e | $o | quantize failed: $(tail -n 1 "$OUT/q.log") |"; continue; }
            s=$(printf %.1f "$(echo "$(date +%s.%N) - $t0" | bc)")
            "$G" ppl "$f" -f "$text" -c "$ctx" --chunks $CHUNKS --kld-base "$base" -t $T >"$OUT/ppl.log" 2>&1 || true
            kld=$(sed -n 's/^Mean *KLD: *\([0-9.]*\) *± *\([0-9.]*\).*/\1 ± \2/p' "$OUT/ppl.log")
            top=$(sed -n 's/^Same top p: *\([0-9.]*\) *± *\([0-9.]*\).*/\1 ± \2/p' "$OUT/ppl.log")
            echo "| $name | $layout | $e | $o | $kld | $top | $s |"
            rm -f "$f"
        done
    done
done
