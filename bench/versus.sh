#!/bin/sh
# Two gguf-forge binaries side by side in one run, for a change that must not
# cost speed (a refactor): `GF_OLD=/path/to/old/gguf-forge make bench`, or
# `sh bench/versus.sh OLD NEW`.  On the random-weight Qwen2.5-0.5B shape that
# bench/run.sh writes: quantize to Q4_0 and Q8_0 (minmax, BF16 input), and the
# engine's pp/tg (`bench -p 256 -n 64`) on one Q4_0 file.  The two binaries take
# turns, run after run, so a load change hits both alike; each figure is the best
# of REPS (default 5).  Markdown out.  Not a test: numbers only.
set -e
OLD=$1; NEW=$2
BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-bench-out}
M=$OUT/qwen2.5-0.5b-shape
T=${BENCH_THREADS:-2}
REPS=${REPS:-5}
[ -x "$OLD" ] && [ -x "$NEW" ] || { echo "usage: bench/versus.sh OLD_BINARY NEW_BINARY"; exit 2; }
[ -f "$M/model.safetensors" ] || { echo "versus: $M not found (bench/run.sh writes it)"; exit 2; }
cat "$M/model.safetensors" > /dev/null
best() { # the smallest of the numbers on stdin
    sort -g | head -n 1
}
wall() { # command...: wall seconds of one run
    /usr/bin/time -f "%e" -o "$OUT/versus-time.txt" "$@" >/dev/null 2>&1
    cat "$OUT/versus-time.txt"
}
echo "## old vs new binary, side by side (best of $REPS, taking turns; $T threads)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "old: $OLD (sha256 $(sha256sum "$OLD" | cut -c1-12)); new: $NEW (sha256 $(sha256sum "$NEW" | cut -c1-12))"
echo
echo "| job | old | new | new/old |"
echo "|---|---|---|---|"
for t in q4_0 q8_0; do
    : > "$OUT/versus-old.txt"; : > "$OUT/versus-new.txt"
    for i in $(seq "$REPS"); do
        wall "$OLD" quantize "$M" -o "$OUT/versus-old-$t.gguf" --type $t --force -q -t $T >> "$OUT/versus-old.txt"
        wall "$NEW" quantize "$M" -o "$OUT/versus-new-$t.gguf" --type $t --force -q -t $T >> "$OUT/versus-new.txt"
    done
    o=$(best < "$OUT/versus-old.txt"); n=$(best < "$OUT/versus-new.txt")
    same=$(cmp -s "$OUT/versus-old-$t.gguf" "$OUT/versus-new-$t.gguf" && echo "same bytes" || echo "BYTES DIFFER")
    echo "| quantize $t, wall s ($same) | $o | $n | $(echo "scale=3; $n / $o" | bc) |"
done
f=$OUT/versus-new-q4_0.gguf
for test in pp256 tg64; do
    : > "$OUT/versus-old.txt"; : > "$OUT/versus-new.txt"
    for i in $(seq "$REPS"); do
        "$OLD" bench "$f" -p 256 -n 64 -r 1 -t $T | grep "$test" | sed 's/.*| *\([0-9.]*\) ±.*/\1/' >> "$OUT/versus-old.txt"
        "$NEW" bench "$f" -p 256 -n 64 -r 1 -t $T | grep "$test" | sed 's/.*| *\([0-9.]*\) ±.*/\1/' >> "$OUT/versus-new.txt"
    done
    o=$(sort -g "$OUT/versus-old.txt" | tail -n 1); n=$(sort -g "$OUT/versus-new.txt" | tail -n 1)
    echo "| engine Q4_0 $test, t/s (best) | $o | $n | $(echo "scale=3; $n / $o" | bc) |"
done
