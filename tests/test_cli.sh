#!/bin/sh
# test_cli.sh - the gguf-forge program as a user meets it: exit codes, messages
# that name the file, no output (and no temporary file) left behind on any
# failure: bad input, an existing output, a full disk (ulimit -f), SIGINT, SIGTERM;
# and the same bytes whatever -t says (--fp-inputs too).
G=${BUILD:-build}/gguf-forge
M=models/qwen2-tiny
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_cli: $*" >&2; }
T=$(mktemp -d /tmp/gf-test-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT

# expect CODE NEEDLE -- command...: exit code and a message containing NEEDLE
expect() {
    code=$1; needle=$2; shift 3
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    [ "$rc" -eq "$code" ] && ok || bad "'$*' exited $rc, want $code: $(tail -n 2 "$T/err")"
    if [ -n "$needle" ]; then grep -q -- "$needle" "$T/err" && ok || bad "'$*': message lacks '$needle': $(tail -n 2 "$T/err")"; fi
}
no_leftovers() { # no output and no temporary file in $T/o
    [ ! -e "$T/o/out.gguf" ] && ok || bad "$1: output file left behind"
    [ -z "$(ls -A "$T/o" 2>/dev/null)" ] && ok || bad "$1: leftovers: $(ls -A "$T/o")"
}
mkdir -p "$T/o"

expect 0 "" -- "$G" --version
expect 1 "unknown command" -- "$G" frobnicate
expect 1 "not one of" -- "$G" quantize $M -o "$T/o/out.gguf" --type q5_k
expect 1 "unknown option" -- "$G" quantize $M -o "$T/o/out.gguf" --bogus
expect 1 "is missing" -- "$G" quantize $M
expect 1 "the output file is -o" -- "$G" quantize $M --output "$T/o/out.gguf"
expect 1 "AWQ rescales decoder blocks only" -- "$G" quantize $M -o "$T/o/out.gguf" --embed awq
expect 1 "after a --lora" -- "$G" quantize $M -o "$T/o/out.gguf" --lora-scale 0.5
expect 1 "finite number" -- "$G" quantize $M -o "$T/o/out.gguf" --lora "$T" --lora-scale nan
expect 2 "$T/no-adapter/adapter_config.json" -- "$G" quantize $M -o "$T/o/out.gguf" --lora "$T/no-adapter"
expect 1 "fp-inputs: --blocks imatrix does not tune blocks on the quantized path's inputs; --fp-inputs applies to --blocks autoround or awq+autoround" \
    -- "$G" quantize $M -o "$T/o/out.gguf" --type q4_0 --blocks imatrix --fp-inputs
expect 1 "--init: 'best' is not minmax or imatrix" -- "$G" quantize $M -o "$T/o/out.gguf" --blocks autoround --init best
expect 1 "fp-inputs: --blocks minmax does not tune" -- "$G" quantize $M -o "$T/o/out.gguf" --embed autoround --fp-inputs
no_leftovers "usage errors"

# success, then the existing file is kept without --force
expect 0 "wrote" -- "$G" quantize $M -o "$T/o/out.gguf" --type q4_0 -q
sum1=$(cksum < "$T/o/out.gguf")
expect 4 "use --force" -- "$G" quantize $M -o "$T/o/out.gguf" --type q8_0 -q
[ "$(cksum < "$T/o/out.gguf")" = "$sum1" ] && ok || bad "existing output changed without --force"
expect 0 "wrote" -- "$G" quantize $M -o "$T/o/out.gguf" --type q8_0 -q --force
[ "$(cksum < "$T/o/out.gguf")" != "$sum1" ] && ok || bad "--force did not replace the output"
[ "$(ls -A "$T/o")" = "out.gguf" ] && ok || bad "temporary files left: $(ls -A "$T/o")"
expect 0 "qwen2.attention.head_count" -- sh -c "'$G' inspect '$T/o/out.gguf' 1>&2"
expect 0 "token_embd.weight" -- sh -c "'$G' inspect '$T/o/out.gguf' --json 1>&2"
expect 0 "Qwen2ForCausalLM" -- sh -c "'$G' inspect $M 1>&2"
# every GGUF input type is shown by its GGML name (llama.cpp's dequant-input.gguf holds one pair of each)
"$G" inspect reference-outputs/dequant/dequant-input.gguf >"$T/insp" 2>&1 && ok || bad "inspect dequant-input.gguf failed"
for tt in F16:f16 BF16:bf16 Q4_0:q4_0 Q4_1:q4_1 Q5_0:q5_0 Q5_1:q5_1 Q8_0:q8_0 Q2_K:q2_K Q3_K:q3_K Q4_K:q4_K \
          Q5_K:q5_K Q6_K:q6_K IQ4_NL:iq4_nl IQ4_XS:iq4_xs; do
    grep -Eq "^ +[0-9]+ +${tt%%:*}\.ffn_down +\[768, 32\] +${tt#*:} +[0-9]+$" "$T/insp" && ok ||
        bad "inspect does not show ${tt%%:*}.ffn_down as ${tt#*:}: $(grep "${tt%%:*}.ffn_down" "$T/insp")"
done
rm -f "$T/o/out.gguf"

# broken model folders: a clear message naming the file, exit 3 (2 for I/O), nothing written
B="$T/model"; mkdir -p "$B"; cp $M/*.json "$B/"
expect 2 "$T/nonexistent" -- "$G" quantize "$T/nonexistent" -o "$T/o/out.gguf"
no_leftovers "missing folder"
head -c 1000 $M/model.safetensors > "$B/model.safetensors"
expect 3 "model.safetensors" -- "$G" quantize "$B" -o "$T/o/out.gguf"
no_leftovers "truncated safetensors"
printf '\377\377\377\377\000\000\000\000{}' > "$B/model.safetensors"
expect 3 "header length" -- "$G" quantize "$B" -o "$T/o/out.gguf"
no_leftovers "header length past the end"
cp $M/model.safetensors "$B/"; echo '{"architectures": ["GPT2LMHeadModel"]}' > "$B/config.json"
expect 3 "GPT2LMHeadModel" -- "$G" quantize "$B" -o "$T/o/out.gguf"
no_leftovers "unknown architecture"
printf 'GGUF\003\000\000\000' > "$T/bad.gguf"
expect 3 "bad.gguf" -- "$G" inspect "$T/bad.gguf"

# a write that fails part-way (file size limit: EFBIG) leaves nothing
expect 2 "File too large" -- sh -c "ulimit -f 200; exec '$G' quantize $M -o '$T/o/out.gguf' --type q4_0 -q"
no_leftovers "write failure"

# SIGINT and SIGTERM while running: config.json is a FIFO, so the run waits with its
# temporary file open; each signal must remove it, say so, and exit 130
cp $M/model.safetensors $M/tokenizer*.json "$B/"; rm -f "$B/config.json"; mkfifo "$B/config.json"
for sig in INT TERM; do
    "$G" quantize "$B" -o "$T/o/out.gguf" -q 2>"$T/err" &
    pid=$!
    i=0; while [ -z "$(ls -A "$T/o")" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    [ -n "$(ls -A "$T/o")" ] && ok || bad "SIG$sig: no temporary file while running"
    kill -$sig $pid
    i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    if kill -0 $pid 2>/dev/null; then bad "SIG$sig: still running 5 s after the signal"; kill -KILL $pid; fi
    wait $pid; rc=$?
    [ $rc -eq 130 ] && ok || bad "SIG$sig exit code $rc, want 130"
    grep -q interrupted "$T/err" && ok || bad "SIG$sig: no 'interrupted' message"
    no_leftovers "SIG$sig"
    rm -f "$T/o/"* 2>/dev/null
done

# -t N does not change the bytes: 1, 2 and 3 threads, on a model whose matrices
# (256 x 256 and up, 196608 weights) are above every parallel threshold (rows of a
# conversion; 32768 multiply-adds in a matmul; 65536 weights in AutoRound's loops),
# weight-only and calibrated (AWQ + AutoRound blocks, AutoRound head) methods
for opts in "--type q8_0" \
            "--type q4_0 --blocks awq+autoround --embed autoround --calib calib/default-calibration.txt --nsamples 2 --seqlen 64 --iters 1"; do
    for t in 1 2 3; do "$G" quantize $M -o "$T/t$t.gguf" $opts -t $t -q 2>"$T/err" || bad "-t $t $opts: $(tail -n 2 "$T/err")"; done
    cmp -s "$T/t1.gguf" "$T/t2.gguf" && ok || bad "-t 1 and -t 2 write different bytes: $opts"
    cmp -s "$T/t1.gguf" "$T/t3.gguf" && ok || bad "-t 1 and -t 3 write different bytes: $opts"
    rm -f "$T"/t?.gguf
done

# --fp-inputs (AutoRound on the float model's inputs): other bytes than the default run from block 1 on
# (block 0's inputs are the same on both paths), the setting in the file, the same bytes for 1 and 2 threads
ar="--type q4_0 --blocks autoround --calib calib/default-calibration.txt --nsamples 4 --seqlen 64 --iters 4 -q"
"$G" quantize $M -o "$T/ar.gguf" $ar -t 2 2>"$T/err" || bad "autoround: $(tail -n 2 "$T/err")"
for t in 1 2; do
    "$G" quantize $M -o "$T/fp$t.gguf" $ar --fp-inputs -t $t 2>"$T/err" || bad "--fp-inputs -t $t: $(tail -n 2 "$T/err")"
done
cmp -s "$T/ar.gguf" "$T/fp1.gguf" && bad "--fp-inputs writes the default run's bytes" || ok
cmp -s "$T/fp1.gguf" "$T/fp2.gguf" && ok || bad "--fp-inputs: -t 1 and -t 2 write different bytes"
"$G" inspect "$T/fp1.gguf" >"$T/insp" 2>&1
grep -Eq "^ *gguf-forge.autoround.fp_inputs += true$" "$T/insp" && ok || bad "--fp-inputs: no gguf-forge.autoround.fp_inputs = true in the file"
"$G" inspect "$T/ar.gguf" >"$T/insp" 2>&1
grep -q "fp_inputs" "$T/insp" && bad "the default run's file has an fp_inputs key" || ok
# awq+autoround too (AWQ's scales from the float path, as without the option)
aw="--type q4_0 --blocks awq+autoround --calib calib/default-calibration.txt --nsamples 2 --seqlen 64 --iters 2 -q"
"$G" quantize $M -o "$T/aw.gguf" $aw -t 1 2>"$T/err" || bad "awq+autoround: $(tail -n 2 "$T/err")"
for t in 1 2; do
    "$G" quantize $M -o "$T/awfp$t.gguf" $aw --fp-inputs -t $t 2>"$T/err" || bad "awq+autoround --fp-inputs -t $t: $(tail -n 2 "$T/err")"
done
cmp -s "$T/aw.gguf" "$T/awfp1.gguf" && bad "awq+autoround --fp-inputs writes the default run's bytes" || ok
cmp -s "$T/awfp1.gguf" "$T/awfp2.gguf" && ok || bad "awq+autoround --fp-inputs: -t 1 and -t 2 write different bytes"
rm -f "$T"/ar.gguf "$T"/fp?.gguf "$T"/aw.gguf "$T"/awfp?.gguf

# gzip text inputs (recognized by their magic bytes, not the name): --calib, ppl -f and
# eval --hellaswag give what the plain file gives
"$G" quantize $M -o "$T/q8.gguf" --type q8_0 -q 2>"$T/err" || bad "quantize q8_0: $(tail -n 2 "$T/err")"
head -c 20000 calib/default-calibration.txt > "$T/calib.txt"
gzip -c "$T/calib.txt" > "$T/calib.txt.gz"
# the same path both times (the file's name is recorded in the GGUF): plain, then gzip data under that name
cp "$T/calib.txt" "$T/c.txt"
"$G" quantize $M -o "$T/awq-plain.gguf" --type q4_0 --blocks awq --calib "$T/c.txt" --nsamples 2 --seqlen 64 -q 2>"$T/err" ||
    bad "--calib plain: $(tail -n 2 "$T/err")"
cp "$T/calib.txt.gz" "$T/c.txt"
"$G" quantize $M -o "$T/awq-gz.gguf" --type q4_0 --blocks awq --calib "$T/c.txt" --nsamples 2 --seqlen 64 -q 2>"$T/err" ||
    bad "--calib gzip: $(tail -n 2 "$T/err")"
cmp -s "$T/awq-plain.gguf" "$T/awq-gz.gguf" && ok || bad "--calib: the gzipped text (named .txt) gives other bytes"
for c in calib.txt calib.txt.gz; do
    "$G" ppl "$T/q8.gguf" -f "$T/$c" -c 128 --chunks 2 2>"$T/err" | grep -v tokens/s > "$T/ppl-$c.out" || bad "ppl -f $c: $(tail -n 2 "$T/err")"
done
grep -q "Final estimate" "$T/ppl-calib.txt.out" && cmp -s "$T/ppl-calib.txt.out" "$T/ppl-calib.txt.gz.out" && ok ||
    bad "ppl -f: a gzipped text gives another perplexity: $(tail -n 1 "$T/ppl-calib.txt.gz.out")"
printf '%s\n' "Skating: A girl laces her skates. she" 2 "reads a book." "eats soup." "glides onto the ice." "sleeps." \
    "Baking: A man opens the oven. he" 1 "swims." "takes out the bread." "flies away." "sings." \
    "Rowing: Two men sit in a boat. they" 0 "pull the oars together." "cook dinner." "paint a wall." "fly." > "$T/hs.txt"
gzip -c "$T/hs.txt" > "$T/hs.txt.gz"
for h in hs.txt hs.txt.gz; do
    "$G" eval "$T/q8.gguf" --hellaswag "$T/$h" --all-tasks 2>"$T/err" | grep -v tasks/s > "$T/eval-$h.out" || bad "eval $h: $(tail -n 2 "$T/err")"
done
grep -q "^3	" "$T/eval-hs.txt.out" && cmp -s "$T/eval-hs.txt.out" "$T/eval-hs.txt.gz.out" && ok ||
    bad "eval: a gzipped task file gives other lines: $(cat "$T/eval-hs.txt.gz.out")"
# a model against itself: the same accuracy, difference 0, agreement 100 %
"$G" eval "$T/q8.gguf" --hellaswag "$T/hs.txt.gz" --vs "$T/q8.gguf" > "$T/vs.out" 2>"$T/err" || bad "eval --vs: $(tail -n 2 "$T/err")"
grep -q "difference (model - base): +0.0000 +/- 0.0000" "$T/vs.out" && grep -q "agreement: 100.0000 %" "$T/vs.out" && ok ||
    bad "eval --vs itself: $(tail -n 4 "$T/vs.out")"
expect 1 "exclude each other" -- "$G" eval "$T/q8.gguf" --hellaswag "$T/hs.txt" --all-tasks --tasks 2
expect 2 "$T/none.txt: cannot open" -- "$G" eval "$T/q8.gguf" --hellaswag "$T/none.txt"
expect 3 "task 1 (line 1): the task needs" -- "$G" eval "$T/q8.gguf" --hellaswag "$T/hs.txt" --all-tasks -c 8

# tune: the scales of a Q4_0 file tuned against its F32 base; only scale bytes change, -t does not
# change them, and bad input is refused with nothing written
"$G" quantize $M -o "$T/f32.gguf" --type f32 -q 2>"$T/err" || bad "quantize f32: $(tail -n 2 "$T/err")"
"$G" quantize $M -o "$T/q4.gguf" --type q4_0 -q 2>"$T/err" || bad "quantize q4_0: $(tail -n 2 "$T/err")"
tn="--nsamples 2 --seqlen 64 --steps 2"
for t in 1 2; do
    "$G" tune "$T/q4.gguf" --base "$T/f32.gguf" -o "$T/tuned$t.gguf" $tn -t $t 2>"$T/err" || bad "tune -t $t: $(tail -n 2 "$T/err")"
done
grep -q "tune: 28 matrices (98304 scales, 98304 factors) tuned" "$T/err" && ok || bad "tune: no summary line: $(tail -n 2 "$T/err")"
cmp -s "$T/tuned1.gguf" "$T/tuned2.gguf" && ok || bad "tune: -t 1 and -t 2 write different bytes"
[ "$(stat -c %s "$T/tuned1.gguf")" = "$(stat -c %s "$T/q4.gguf")" ] && ! cmp -s "$T/q4.gguf" "$T/tuned1.gguf" && ok ||
    bad "tune: the output is not the input with other scales"
"$G" ppl "$T/tuned1.gguf" -f "$T/calib.txt" -c 128 --chunks 1 >/dev/null 2>"$T/err" && ok || bad "ppl of a tuned file: $(tail -n 2 "$T/err")"
"$G" tune "$T/q4.gguf" --base "$T/f32.gguf" -o "$T/tuned3.gguf" $tn --head --per-row --val 1 --lr 0.001 2>"$T/err" &&
    grep -q "tune: 29 matrices (.*row factors) tuned.*validation" "$T/err" && ok ||
    bad "tune --head --per-row --val 1: $(tail -n 2 "$T/err")"
expect 1 "--base and -o are required" -- "$G" tune "$T/q4.gguf" -o "$T/o/out.gguf"
expect 1 "--lr wants a number" -- "$G" tune "$T/q4.gguf" --base "$T/f32.gguf" -o "$T/o/out.gguf" --lr 0
expect 2 "$T/none.gguf" -- "$G" tune "$T/none.gguf" --base "$T/f32.gguf" -o "$T/o/out.gguf"
expect 3 "no block matrix of a type with one scale" -- "$G" tune "$T/f32.gguf" --base "$T/f32.gguf" -o "$T/o/out.gguf" $tn
expect 2 "$T/none.txt" -- "$G" tune "$T/q4.gguf" --base "$T/f32.gguf" -o "$T/o/out.gguf" --calib "$T/none.txt"
expect 4 "use --force" -- "$G" tune "$T/q4.gguf" --base "$T/f32.gguf" -o "$T/tuned1.gguf" $tn
no_leftovers "tune errors"
rm -f "$T"/f32.gguf "$T"/q4.gguf "$T"/tuned?.gguf

# the program's own lines against llama-perplexity's (reference-outputs/eval): the first 100 of the
# 400-task HellaSwag run (the draw's first 100 do not depend on the count drawn), header included
skip=0
S=${GF_SHARED:-../shared}
if [ -f "$S/oracle/qwen2-tiny-f32.f32.gguf" ] && [ -f "$S/data/hellaswag-val-1000.txt" ]; then
    "$G" eval "$S/oracle/qwen2-tiny-f32.f32.gguf" --hellaswag "$S/data/hellaswag-val-1000.txt" --tasks 100 \
        >"$T/hs100.out" 2>"$T/err" || bad "eval --tasks 100: $(tail -n 2 "$T/err")"
    grep -A 100 '^task	acc_norm$' reference-outputs/eval/llama-hellaswag-qwen2-tiny-f32.f32-400.txt > "$T/want"
    grep -A 100 '^task	acc_norm$' "$T/hs100.out" > "$T/got"
    [ "$(wc -l < "$T/got")" -eq 101 ] && cmp -s "$T/want" "$T/got" && ok ||
        bad "eval --hellaswag --tasks 100: lines differ from llama-perplexity's: $(diff "$T/want" "$T/got" | head -n 3)"
elif [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    bad "$S/oracle/qwen2-tiny-f32.f32.gguf not found: under CI the shared files must be present (set GF_SHARED)"
else
    skip=1; echo "SKIP (data): $S/oracle/qwen2-tiny-f32.f32.gguf not found (set GF_SHARED)" >&2
fi

if [ $skip -gt 0 ]; then echo "test_cli: $pass passed, $fail failed, $skip skipped (data $skip)"
else echo "test_cli: $pass passed, $fail failed"; fi
[ $fail -eq 0 ]
