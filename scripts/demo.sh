#!/bin/sh
# make demo: the main job on the bundled model, with nothing from outside this repository.
# Quantizes models/qwen2-tiny to Q4_0 twice, with min-max (llama.cpp's rounding) and with AutoRound's light
# recipe on the built-in calibration text, measures both files against the F32 conversion of the same model on
# held-out text (models/demo-valid.txt: sentences the model and the calibration text never saw), prints the two
# side by side, then inspects the AutoRound file and generates a few tokens with it.
# Usage: sh scripts/demo.sh [GGUF_FORGE]   (default ./gguf-forge); files demo-*.gguf in the current folder.
set -e
G=${1:-./gguf-forge}
M=models/qwen2-tiny
TEXT=models/demo-valid.txt

secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# measure FILE: "PPL KLD TOP1" of FILE against demo-f32.gguf
measure() {
    "$G" ppl "$1" -f "$TEXT" -c 256 --kld-base demo-f32.gguf >demo-ppl.log 2>&1 || { cat demo-ppl.log; exit 1; }
    echo "$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\).*/\1/p' demo-ppl.log)" \
        "$(sed -n 's/^Mean *KLD: *\([0-9.]*\).*/\1/p' demo-ppl.log)" \
        "$(sed -n 's/^Same top p: *\([0-9.]*\).*/\1/p' demo-ppl.log)"
}

echo "== the F32 reference, and Q4_0 by min-max (llama-quantize's rounding)"
"$G" quantize $M --type f32 -o demo-f32.gguf --force -q
t0=$(date +%s.%N)
"$G" quantize $M --type q4_0 -o demo-q4_0.gguf --force -q
s_mm=$(secs "$t0")
echo
echo "== Q4_0 by AutoRound (light recipe, built-in calibration text)"
t0=$(date +%s.%N)
"$G" quantize $M --type q4_0 --blocks autoround --recipe light -o demo-q4_0-autoround.gguf --force -q
s_ar=$(secs "$t0")
echo
echo "== both measured against F32 on $TEXT (held out), windows of 256 tokens"
set -- $(measure demo-q4_0.gguf)
mm_ppl=$1 mm_kld=$2 mm_top=$3
set -- $(measure demo-q4_0-autoround.gguf)
ar_ppl=$1 ar_kld=$2 ar_top=$3
f32_ppl=$(sed -n 's/^Mean PPL(base) *: *\([0-9.]*\).*/\1/p' demo-ppl.log)
rm -f demo-ppl.log
printf '%-22s %10s %12s %12s %10s\n' file PPL "mean KLD" "same top-1" seconds
printf '%-22s %10s %12s %12s %10s\n' "F32" "$f32_ppl" 0 100 -
printf '%-22s %10s %12s %11s%% %10s\n' "Q4_0 min-max" "$mm_ppl" "$mm_kld" "$mm_top" "$s_mm"
printf '%-22s %10s %12s %11s%% %10s\n' "Q4_0 AutoRound light" "$ar_ppl" "$ar_kld" "$ar_top" "$s_ar"
awk -v a="$ar_kld" -v m="$mm_kld" 'BEGIN { printf "AutoRound'"'"'s KLD is %.2fx min-max'"'"'s, in a file of the same size and format.\n", a / m }'
echo
echo "== what the AutoRound file records of how it was made (gguf-forge inspect)"
"$G" inspect demo-q4_0-autoround.gguf | grep -E '^demo|gguf-forge\.'
echo
"$G" run demo-q4_0-autoround.gguf -p "The film" -n 24
