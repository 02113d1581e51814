#!/bin/sh
# Builds every fuzz/fuzz_*.c with libFuzzer, ASan and UBSan (clang) and runs each
# for FUZZ_SECONDS (and at most FUZZ_RUNS executions when set), starting from its
# corpus in fuzz/corpus/<target>; new inputs and any crash land in
# build-fuzz/<target>.*.  FUZZ_TARGETS="fuzz_gguf fuzz_config" picks targets
# (default: all), so two campaigns can run side by side on two cores.
# Argument: the library (libgf.a) built with -fsanitize=fuzzer-no-link,address,undefined.  A crash found here becomes a fixed bug plus
# a file in fuzz/crashes/<target>/, which `make test` replays forever after.
set -e
secs=${FUZZ_SECONDS:-60}
out=build-fuzz
mkdir -p $out
status=0
targets=${FUZZ_TARGETS:-$(for s in fuzz/fuzz_*.c; do basename "$s" .c; done)}
for t in $targets; do
    src=fuzz/$t.c
    [ -f "$src" ] || { echo "no such target: $t"; status=1; continue; }
    clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fopenmp \
        "$src" "$@" -o "$out/$t" -lcjson -lpcre2-8 -lz -lm
    mkdir -p "$out/$t.corpus" "$out/$t.artifacts"
    cp fuzz/corpus/$t/* "$out/$t.corpus/" 2>/dev/null || true
    maxlen=65536
    case $t in fuzz_gguf_source) maxlen=131072 ;; esac # its seeds are whole models of up to 81 KB
    echo "== $t: $secs s${FUZZ_RUNS:+ or $FUZZ_RUNS executions}"
    if ! OMP_NUM_THREADS=1 "$out/$t" "$out/$t.corpus" -max_total_time="$secs" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
         -rss_limit_mb=2048 -max_len=$maxlen -timeout=10 \
         -artifact_prefix="$out/$t.artifacts/" -print_final_stats=1 >"$out/$t.log" 2>&1; then
        echo "   FAILED: see $out/$t.log and $out/$t.artifacts/"; status=1
    fi
    # the last status line (executions, coverage, features, corpus) and the final statistics
    grep -E "^#[0-9]+" "$out/$t.log" | tail -n 1
    grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb" "$out/$t.log" | tr '\n' ' '; echo
done
exit $status
