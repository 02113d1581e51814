#!/bin/sh
# intel/auto-round on SmolLM2-135M-Instruct for the side-by-side of issue 14: what made the figures in
# README.md here. Reference tooling only (a Python venv with torch, transformers, gguf and auto-round; never a
# dependency of gguf-forge, make test or make demo). Usage: sh run.sh VENV WORK RECIPE ITERS NSAMPLES SEQLEN BATCH
#   e.g. sh reference-outputs/autoround/run.sh /work/venv /work/ar light 50 32 128 4
# WORK gets the HF folder (bench/hf_from_gguf.py of the Q4_1 GGUF from bench/fetch_models.sh), the calibration
# JSON lines (calib_jsonl.py: whole lines of ../shared/data/calibration.txt, >= 6 characters per token so that
# no sample is shorter than SEQLEN), and auto-round's output and log; then gguf-forge measures the file against
# the F32 of the same source: gguf-forge ppl -c 512 --chunks 8 --kld-base F32 on wiki.test.raw.
set -e
VENV=$1 WORK=$2 NAME=$3 ITERS=$4 NS=$5 SEQ=$6 BATCH=$7
SHARED=${GF_SHARED:-../shared}
SRC=${SRC:-$HOME/.cache/gguf-forge/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
G=${G:-./gguf-forge}
mkdir -p "$WORK"
[ -d "$WORK/smollm2-hf" ] || "$VENV/bin/python" bench/hf_from_gguf.py "$SRC" "$WORK/smollm2-hf"
[ -f "$WORK/cal-$SEQ.jsonl" ] || "$VENV/bin/python" reference-outputs/autoround/calib_jsonl.py \
    "$SHARED/data/calibration.txt" $((SEQ * 6)) "$WORK/cal-$SEQ.jsonl"
[ -f "$WORK/smollm2-f32.gguf" ] || "$G" quantize "$SRC" --type f32 -o "$WORK/smollm2-f32.gguf" -q
/usr/bin/time -v "$VENV/bin/auto-round" --model "$WORK/smollm2-hf" --scheme W4A16 --format gguf:q4_0 \
    --iters "$ITERS" --nsamples "$NS" --seqlen "$SEQ" --batch_size "$BATCH" --dataset "$WORK/cal-$SEQ.jsonl" \
    --seed 0 --device cpu --output_dir "$WORK/out-$NAME" >"$WORK/$NAME.log" 2>&1
f=$(find "$WORK/out-$NAME" -name '*.gguf' | head -n 1)
"$G" ppl "$f" -f "$SHARED/data/wiki.test.raw" -c 512 --chunks 8 --kld-base "$WORK/smollm2-f32.gguf" -t 2 \
    >"$WORK/$NAME-ppl.log" 2>&1
grep -E 'Elapsed|Maximum resident' "$WORK/$NAME.log"
grep -E '^Mean PPL\(Q\)|^Mean +KLD|^Same top p' "$WORK/$NAME-ppl.log"
