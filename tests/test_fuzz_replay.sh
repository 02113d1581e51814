#!/bin/sh
# test_fuzz_replay.sh - every fuzz target, built as a plain program, replays its
# corpus and every crash ever found (fuzz/crashes/<target>/) under the normal test
# run (and under ASan/UBSan in make asan): none may crash.
pass=0; fail=0
for bin in ${BUILD:-build}/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    t=$(basename "$bin")
    dirs="fuzz/corpus/$t"
    [ -d "fuzz/crashes/$t" ] && dirs="$dirs fuzz/crashes/$t"
    if "$bin" $dirs >/tmp/gf-fuzz-replay.$$ 2>&1; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL test_fuzz_replay: $t"; tail -n 20 /tmp/gf-fuzz-replay.$$; fi
done
rm -f /tmp/gf-fuzz-replay.$$
echo "test_fuzz_replay: $pass passed, $fail failed"
[ $fail -eq 0 ]
