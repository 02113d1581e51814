#!/bin/sh
# Runs every test program given, then every shell test in tests/*.sh (but this
# one), and adds up their "N passed, N failed" lines into one closing line.
total_p=0; total_f=0; total_s=0; crashed=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
run_one() {
    "$@" >"$log" 2>&1; rc=$?
    cat "$log"
    line=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "ERROR: $* exited $rc without a result line"; crashed=$((crashed + 1)); return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "ERROR: $* exited $rc"; crashed=$((crashed + 1)); fi
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
}
for t in "$@"; do run_one "$t"; done
for t in tests/*.sh; do
    [ "$t" = tests/run.sh ] && continue
    [ -f "$t" ] && run_one sh "$t"
done
total_f=$((total_f + crashed))
echo "total: $total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
