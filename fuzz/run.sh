#!/bin/sh
# Builds every fuzz/fuzz_*.c with libFuzzer, ASan and UBSan (clang) and runs each
# for FUZZ_SECONDS, starting from its corpus in fuzz/corpus/<target>; new inputs
# and any crash land in build-fuzz/<target>/.  Arguments: the library sources.
# A crash found here becomes a fixed bug plus a file in fuzz/crashes/<target>/,
# which `make test` replays forever after.
set -e
secs=${FUZZ_SECONDS:-60}
out=build-fuzz
mkdir -p $out
status=0
for src in fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fopenmp \
        "$src" "$@" -o "$out/$t" -lcjson -lpcre2-8 -lm
    mkdir -p "$out/$t.corpus" "$out/$t.artifacts"
    cp fuzz/corpus/$t/* "$out/$t.corpus/" 2>/dev/null || true
    echo "== $t: $secs s"
    if ! "$out/$t" "$out/$t.corpus" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
         -artifact_prefix="$out/$t.artifacts/" -print_final_stats=1 >"$out/$t.log" 2>&1; then
        echo "   FAILED: see $out/$t.log and $out/$t.artifacts/"; status=1
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|DONE" "$out/$t.log" | tr '\n' ' '; echo
done
exit $status
