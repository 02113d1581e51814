#!/bin/sh
# Runs every test program given, then every shell test in tests/*.sh (but this
# one), and adds up their "N passed, N failed[, N skipped (cause N, ...)]" lines
# into one closing line.  Skips are counted by cause (data, cpu, tools, other; a
# skip count without causes is "other") and listed by cause before that line.
# Each program's wall time follows its output ("time: PROG N s"), to keep CI short.
# Under CI (CI=true) a data skip is a failure: CI must compare against ../shared.
total_p=0; total_f=0; total_s=0; crashed=0
causes="data cpu tools other"
for c in $causes; do eval "skip_$c=0"; done
log=$(mktemp); skips=$(mktemp); trap 'rm -f "$log" "$skips"' EXIT
run_one() {
    t0=$(date +%s)
    "$@" >"$log" 2>&1; rc=$?
    cat "$log"
    echo "time: $* $(($(date +%s) - t0)) s"
    line=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "ERROR: $* exited $rc without a result line"; crashed=$((crashed + 1)); return
    fi
    prog=${line%%:*}
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "ERROR: $* exited $rc"; crashed=$((crashed + 1)); fi
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
    known=0
    for c in data cpu tools; do
        n=$(echo "$line" | sed -nE "s/.*skipped \(.*\b$c ([0-9]+).*/\1/p"); n=${n:-0}
        eval "skip_$c=\$((skip_$c + n))"; known=$((known + n))
    done
    skip_other=$((skip_other + s - known))
    grep -E '^SKIP' "$log" | sed -E "s/^SKIP( \(([a-z]+)\))?: /\2\t$prog: /; s/^\t/other\t/" >>"$skips"
}
for t in "$@"; do run_one "$t"; done
for t in tests/*.sh; do
    [ "$t" = tests/run.sh ] && continue
    [ -f "$t" ] && run_one sh "$t"
done
for c in $causes; do
    grep "^$c	" "$skips" | sed "s/^$c	/skipped ($c): /"
done
if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ] && [ "$skip_data" -gt 0 ]; then
    echo "ERROR: $skip_data data skips under CI=$CI: the shared files (GF_SHARED) must be present"
    crashed=$((crashed + 1))
fi
total_f=$((total_f + crashed))
echo "total: $total_p passed, $total_f failed, $total_s skipped (data $skip_data, cpu $skip_cpu, tools $skip_tools, other $skip_other)"
[ "$total_f" -eq 0 ]
