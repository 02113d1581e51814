#!/bin/sh
# test_checkpoint.sh - quantize --checkpoint DIR (calib/checkpoint.c, issue 15): a run with a
# checkpoint writes the bytes a run without one writes; a run killed (SIGKILL) right after
# block 2 is saved, or at whatever moment a kill -9 from the shell lands, resumes after its
# last saved block (it says so, and tunes only the blocks left) and writes the uninterrupted
# run's bytes and report; a --fp-inputs run saves no quantized path and resumes to its own bytes;
# a checkpoint of other options (--fp-inputs and --init too) or another model is refused naming the
# difference, and so is a folder another run holds; a damaged or truncated checkpoint file is
# refused cleanly; nothing is left in the output folder by a refused run.  On qwen2-tiny (4
# blocks), AWQ + AutoRound blocks and an
# AutoRound head, 2 samples of 32 tokens: a few seconds.
G=${BUILD:-build}/gguf-forge
M=models/qwen2-tiny
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_checkpoint: $*" >&2; }
T=$(mktemp -d /tmp/gf-test-ckpt-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/o"
OPTS="--type q4_0 --blocks awq+autoround --embed autoround --nsamples 2 --seqlen 32 --iters 2 -t 1"

# q OUT [options]: quantize qwen2-tiny with $OPTS; stderr in $T/err, exit code in $rc
q() {
    out=$1; shift
    "$G" quantize $M -o "$out" $OPTS "$@" 2>"$T/err"; rc=$?
}
no_output() { # a refused run leaves nothing in $T/o
    [ -z "$(ls -A "$T/o")" ] && ok || bad "$1: left in the output folder: $(ls -A "$T/o")"
}

# 1. uninterrupted, with and without a checkpoint: the same bytes; one block file per block
q "$T/plain.gguf" -q
[ $rc -eq 0 ] && ok || bad "plain run: exit $rc: $(tail -n 2 "$T/err")"
q "$T/ck.gguf" --checkpoint "$T/ck1"
[ $rc -eq 0 ] && ok || bad "run with --checkpoint: exit $rc: $(tail -n 2 "$T/err")"
cmp -s "$T/plain.gguf" "$T/ck.gguf" && ok || bad "--checkpoint changes the bytes written"
[ "$(ls -A "$T/ck1" | tr '\n' ' ')" = "block-0000.gfck block-0001.gfck block-0002.gfck block-0003.gfck lock state.gfck " ] && ok ||
    bad "checkpoint folder holds: $(ls -A "$T/ck1" | tr '\n' ' ')"
grep -q "checkpoint $T/ck1: blocks 0..3 saved" "$T/err" && ok || bad "no 'blocks 0..3 saved' line: $(tail -n 3 "$T/err")"

# 2. killed (SIGKILL, the test hook) right after block 2's checkpoint, then resumed, with -t 2
#    (the thread count is not part of a run's identity): the plain run's bytes
q "$T/plainr.gguf" --report "$T/plain.json"
GF_TEST_STOP_AFTER_BLOCK=2 "$G" quantize $M -o "$T/o/out.gguf" $OPTS --checkpoint "$T/ck2" --force 2>"$T/err"; rc=$?
[ $rc -eq 137 ] && ok || bad "GF_TEST_STOP_AFTER_BLOCK=2: exit $rc, want 137 (SIGKILL): $(tail -n 2 "$T/err")"
[ -e "$T/ck2/block-0002.gfck" ] && [ ! -e "$T/ck2/block-0003.gfck" ] && ok ||
    bad "after the kill the folder holds: $(ls -A "$T/ck2" | tr '\n' ' ')"
rm -f "$T/o/out.gguf" "$T/o/".out.gguf.tmp-* # what kill -9 leaves of the output (its temporary file)
"$G" quantize $M -o "$T/o/out.gguf" $OPTS -t 2 --checkpoint "$T/ck2" --report "$T/resumed.json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && ok || bad "resume: exit $rc: $(tail -n 2 "$T/err")"
grep -q "^resuming from checkpoint $T/ck2: blocks 0..2 done$" "$T/err" && ok || bad "resume: no 'blocks 0..2 done': $(head -n 5 "$T/err")"
# only block 4 (1-based) was tuned again
tuned=$(grep -c "^awq+autoround: block [0-9]/4" "$T/err")
grep -q "^awq+autoround: block 4/4" "$T/err" && [ "$tuned" -eq 1 ] && ok || bad "resume tuned $tuned blocks, want block 4 only"
cmp -s "$T/plain.gguf" "$T/o/out.gguf" && ok || bad "killed after block 2 and resumed: bytes differ from the uninterrupted run"
# the saved tensors' and blocks' figures come back too: the same report (times aside)
sed -e '/"seconds"/d' -e '/"output":/d' "$T/plain.json" >"$T/a"
sed -e '/"seconds"/d' -e '/"output":/d' "$T/resumed.json" >"$T/b"
grep -q '"loss_tuned"' "$T/a" && cmp -s "$T/a" "$T/b" && ok || bad "resumed report differs: $(diff "$T/a" "$T/b" | head -n 4)"
grep -q "^autoround: 4 blocks in" "$T/err" && ok || bad "resumed summary does not count the 4 blocks: $(grep '^autoround: [0-9]' "$T/err")"
# a finished checkpoint resumes to the same bytes again
q "$T/again.gguf" --checkpoint "$T/ck2" -q
grep -q "blocks 0..3 done" "$T/err" && cmp -s "$T/plain.gguf" "$T/again.gguf" && ok || bad "finished checkpoint: $(tail -n 2 "$T/err")"
rm -f "$T/o/out.gguf" "$T/again.gguf"

# 3. a real kill -9 at whatever moment it lands once the first block is saved (tuning block 1 or
#    writing a checkpoint file), with more iterations so that the run is still going
K="--iters 20"
q "$T/plain20.gguf" $K -q
"$G" quantize $M -o "$T/o/out.gguf" $OPTS $K --checkpoint "$T/ck3" -q 2>"$T/err" &
pid=$!
i=0
while [ ! -e "$T/ck3/state.gfck" ] && [ $i -lt 400 ] && kill -0 $pid 2>/dev/null; do sleep 0.02; i=$((i + 1)); done
kill -9 $pid 2>/dev/null; wait $pid; rc=$?
[ $rc -eq 137 ] && ok || bad "kill -9 did not land while the run was going (exit $rc)"
rm -f "$T/o/out.gguf" "$T/o/".out.gguf.tmp-*
q "$T/o/out.gguf" $K --checkpoint "$T/ck3" -q
[ $rc -eq 0 ] && grep -q "^resuming from checkpoint $T/ck3: blocks 0\.\.[0-3] done$" "$T/err" && ok ||
    bad "resume after kill -9: exit $rc: $(tail -n 2 "$T/err")"
cmp -s "$T/plain20.gguf" "$T/o/out.gguf" && ok || bad "kill -9 and resume: bytes differ from the uninterrupted run"
[ -z "$(ls -A "$T/ck3" | grep tmp)" ] && ok || bad "temporary files left in the checkpoint: $(ls -A "$T/ck3")"
rm -f "$T/o/out.gguf"

# 3b. --fp-inputs: no quantized path, so none is saved (the state file is smaller by that stream,
#     2 x 32 x 256 floats); killed after block 1 and resumed, the uninterrupted run's bytes
q "$T/fp.gguf" --fp-inputs -q
[ $rc -eq 0 ] && ok || bad "--fp-inputs run: exit $rc: $(tail -n 2 "$T/err")"
GF_TEST_STOP_AFTER_BLOCK=1 "$G" quantize $M -o "$T/o/out.gguf" $OPTS --fp-inputs --checkpoint "$T/ck6" -q 2>"$T/err"; rc=$?
[ $rc -eq 137 ] && ok || bad "--fp-inputs GF_TEST_STOP_AFTER_BLOCK=1: exit $rc, want 137: $(tail -n 2 "$T/err")"
rm -f "$T/o/out.gguf" "$T/o/".out.gguf.tmp-*
q "$T/o/out.gguf" --fp-inputs --checkpoint "$T/ck6"
[ $rc -eq 0 ] && grep -q "^resuming from checkpoint $T/ck6: blocks 0..1 done$" "$T/err" && ok ||
    bad "--fp-inputs resume: exit $rc: $(tail -n 2 "$T/err")"
cmp -s "$T/fp.gguf" "$T/o/out.gguf" && ok || bad "--fp-inputs killed after block 1 and resumed: bytes differ"
cmp -s "$T/fp.gguf" "$T/plain.gguf" && bad "--fp-inputs wrote the default run's bytes" || ok
s1=$(wc -c < "$T/ck1/state.gfck"); s6=$(wc -c < "$T/ck6/state.gfck")
[ $((s1 - s6)) -ge $((2 * 32 * 256 * 4)) ] && ok || bad "--fp-inputs state.gfck is $s6 bytes, the default's $s1: the quantized path saved?"
rm -f "$T/o/out.gguf"

# 4. another run's checkpoint: refused, naming the difference, exit 1, no output
q "$T/o/out.gguf" --checkpoint "$T/ck1" --iters 3 -q
[ $rc -eq 1 ] && ok || bad "--iters 3 on an --iters 2 checkpoint: exit $rc, want 1"
grep -q "checkpoint $T/ck1: option --iters was 2, now 3" "$T/err" && ok || bad "--iters: message: $(tail -n 1 "$T/err")"
no_output "--iters 3"
q "$T/o/out.gguf" --checkpoint "$T/ck1" --seed 1 -q
[ $rc -eq 1 ] && grep -q "option --seed was 0, now 1" "$T/err" && ok || bad "--seed 1: exit $rc: $(tail -n 1 "$T/err")"
q "$T/o/out.gguf" --checkpoint "$T/ck1" --type q8_0 -q
[ $rc -eq 1 ] && grep -q "option --type was q4_0, now q8_0" "$T/err" && ok || bad "--type q8_0: exit $rc: $(tail -n 1 "$T/err")"
q "$T/o/out.gguf" --checkpoint "$T/ck1" --fp-inputs -q
[ $rc -eq 1 ] && grep -q "checkpoint $T/ck1: option --fp-inputs was no, now yes" "$T/err" && ok ||
    bad "--fp-inputs on a checkpoint without: exit $rc: $(tail -n 1 "$T/err")"
q "$T/o/out.gguf" --checkpoint "$T/ck6" -q
[ $rc -eq 1 ] && grep -q "checkpoint $T/ck6: option --fp-inputs was yes, now no" "$T/err" && ok ||
    bad "no --fp-inputs on a checkpoint with it: exit $rc: $(tail -n 1 "$T/err")"
q "$T/o/out.gguf" --checkpoint "$T/ck1" --init minmax -q
[ $rc -eq 1 ] && grep -q "checkpoint $T/ck1: option --init was imatrix, now minmax" "$T/err" && ok ||
    bad "--init minmax on an imatrix-start checkpoint: exit $rc: $(tail -n 1 "$T/err")"
no_output "--seed, --type, --fp-inputs, --init"
# the same folder name, another config.json
mkdir -p "$T/other/qwen2-tiny"
cp $M/* "$T/other/qwen2-tiny/"
sed -i 's/"rms_norm_eps": 1e-06/"rms_norm_eps": 1e-05/' "$T/other/qwen2-tiny/config.json"
"$G" quantize "$T/other/qwen2-tiny" -o "$T/o/out.gguf" $OPTS --checkpoint "$T/ck1" -q 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "checkpoint $T/ck1: the model's config.json was fnv1a64:" "$T/err" && ok ||
    bad "another config.json: exit $rc: $(tail -n 1 "$T/err")"
no_output "another model"
# a folder another run holds (its lock): refused, and its files left alone
flock "$T/ck1/lock" "$G" quantize $M -o "$T/o/out.gguf" $OPTS --checkpoint "$T/ck1" -q 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "checkpoint $T/ck1: in use by another run" "$T/err" && ok || bad "a locked folder: exit $rc: $(tail -n 1 "$T/err")"
no_output "a locked folder"
# not a block method: nothing to save
"$G" quantize $M -o "$T/o/out.gguf" --type q4_0 --checkpoint "$T/ck4" -q 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "nothing to save" "$T/err" && [ ! -e "$T/ck4" ] && ok || bad "--blocks minmax: exit $rc: $(tail -n 1 "$T/err")"

# 5. damaged checkpoints: refused (exit 3, the file named), never a crash, no output
for f in state.gfck block-0001.gfck; do
    for cut in 7 19 100 1000 -1; do
        rm -rf "$T/ck5"; cp -r "$T/ck1" "$T/ck5"
        size=$(wc -c < "$T/ck5/$f")
        [ $cut -lt 0 ] && cut=$((size - 1))
        head -c $cut "$T/ck1/$f" > "$T/ck5/$f"
        q "$T/o/out.gguf" --checkpoint "$T/ck5" -q
        [ $rc -eq 3 ] && grep -q "$T/ck5/$f: .*truncated" "$T/err" && ok ||
            bad "$f cut to $cut bytes: exit $rc: $(tail -n 1 "$T/err")"
        no_output "$f cut to $cut bytes"
    done
done
rm -rf "$T/ck5"; cp -r "$T/ck1" "$T/ck5"
printf 'X' | dd of="$T/ck5/state.gfck" bs=1 seek=40 conv=notrunc 2>/dev/null # one byte changed
q "$T/o/out.gguf" --checkpoint "$T/ck5" -q
[ $rc -eq 3 ] && grep -q "state.gfck: damaged or truncated" "$T/err" && ok || bad "a changed byte: exit $rc: $(tail -n 1 "$T/err")"
rm "$T/ck5/block-0002.gfck"
cp "$T/ck1/state.gfck" "$T/ck5/"
q "$T/o/out.gguf" --checkpoint "$T/ck5" -q
[ $rc -eq 2 ] && grep -q "block-0002.gfck: cannot open" "$T/err" && ok || bad "a block file missing: exit $rc: $(tail -n 1 "$T/err")"
no_output "damaged checkpoints"
: > "$T/notdir"
q "$T/o/out.gguf" --checkpoint "$T/notdir" -q
[ $rc -eq 2 ] && grep -q "not a folder" "$T/err" && ok || bad "--checkpoint on a file: exit $rc: $(tail -n 1 "$T/err")"

echo "test_checkpoint: $pass passed, $fail failed"
[ $fail -eq 0 ]
