#!/bin/sh
# AutoRound on a whole random-weight model of Qwen2.5-0.5B's shape (issue 5): for each recipe in
# AUTOROUND_RECIPES (default "light default"; "best" takes hours), one `gguf-forge quantize --blocks autoround`
# run at Q4_0 with BENCH_THREADS threads, timed by /usr/bin/time.  Prints a markdown row per recipe: seconds
# per block, the whole run, peak RSS, and the GFLOP/s of the forward/backward passes (analytic count, from
# quantize's closing line) against the FMA peak measured by `bench_autoround --peak`.  Needs a quiet machine.
# BENCH_RANKS=R (R >= 1) runs the MPI build instead (make MPI=1 into $BUILD-mpi, brought up to date first) under
# `mpirun -np R --oversubscribe`, each rank with BENCH_THREADS threads: 1 x 2 against 2 x 1 on 2 cores.
# AUTOROUND_EXTRA adds quantize options (e.g. --fp-inputs: under BENCH_RANKS, whole blocks per rank).
set -e
BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-bench-out}
G=$BUILD/gguf-forge
T=${BENCH_THREADS:-2}
R=${BENCH_RANKS:-}
RUN=
if [ -n "$R" ]; then
    command -v mpirun >/dev/null 2>&1 || { echo "autoround bench: BENCH_RANKS needs mpirun (sh scripts/deps.sh mpi)"; exit 1; }
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j2 MPI=1 BUILD="$BUILD-mpi" "$BUILD-mpi/gguf-forge" \
        "$BUILD-mpi/bench/bench_allreduce"
    G=$BUILD-mpi/gguf-forge
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
    RUN="mpirun -np $R --oversubscribe --bind-to none"
fi
SHARED=${GF_SHARED:-../shared}
CFG=$SHARED/tokenizers/qwen2.5
CAL=$SHARED/data/calibration.txt
if [ ! -f "$CFG/config.json" ] || [ ! -f "$CAL" ]; then echo "autoround bench: $CFG or $CAL not found (set GF_SHARED); skipping"; exit 0; fi
mkdir -p "$OUT"
M=$OUT/qwen2.5-0.5b-shape
[ -f "$M/model.safetensors" ] || "$BUILD/bench/gen_model" "$CFG" "$M" bf16
peak=$("$BUILD/bench/bench_autoround" --peak | sed -n 's/.*: \([0-9.]*\) GFLOP\/s per CPU-second of one core.*/\1/p')
echo "## AutoRound, whole model: random-weight Qwen2.5-0.5B shape (24 blocks), BF16 input, Q4_0, ${R:+$R MPI ranks x }$T threads${AUTOROUND_EXTRA:+, $AUTOROUND_EXTRA}"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; commit $(git rev-parse --short HEAD 2>/dev/null)"
echo "FMA peak: $peak GFLOP/s per core (bench_autoround --peak); calibration text: $CAL"
echo
# under MPI the GFLOP count is rank 0's own passes (its share of the split work and all of the repeated work), so
# its share is of rank 0's T cores; with --fp-inputs (whole blocks per rank) it is every rank's tuning over rank
# 0's wall time, the job's rate, so the share is of all R x T cores
who="${R:+rank 0's }"; cores=$T
case "${R:-}:${AUTOROUND_EXTRA:-}" in [0-9]*:*--fp-inputs*) who="the job's "; cores=$((R * T)) ;; esac
echo "| recipe | iterations | samples x tokens | batch | s per block | whole run, min | peak RSS MB | ${who}GFLOP/s | of ${who}$cores-core peak |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in ${AUTOROUND_RECIPES:-light default}; do
    log=$OUT/autoround-$r.log
    /usr/bin/time -f "%e %M" -o "$OUT/time.txt" $RUN "$G" quantize "$M" -o "$OUT/autoround-$r.gguf" --type q4_0 \
        --blocks autoround --recipe "$r" --calib "$CAL" --report "$OUT/autoround-$r.json" --force -t "$T" \
        ${AUTOROUND_EXTRA:-} 2>"$log"
    read wall rss < "$OUT/time.txt"
    line=$(grep '^autoround: [0-9]* blocks in' "$log")
    per_block=$(echo "$line" | sed 's/.*(\([0-9.]*\) s per block).*/\1/')
    gfs=$(echo "$line" | sed 's/.*, \([0-9.]*\) GFLOP\/s$/\1/')
    rec=$(grep -m1 '^autoround: recipe' "$log" | sed 's/^autoround: recipe //')
    iters=$(echo "$rec" | sed -n 's/.*[^0-9]\([0-9]*\) iterations.*/\1/p')
    samples=$(echo "$rec" | sed -n 's/.*[^0-9]\([0-9]* x [0-9]*\) tokens.*/\1/p')
    batch=$(echo "$rec" | sed -n 's/.*batch \([0-9]*\).*/\1/p')
    share=$(echo "scale=0; 100 * $gfs / ($peak * $cores)" | bc)
    echo "| $r${R:+ ($R ranks x $T threads)} | $iters | $samples | $batch | $per_block | $(echo "scale=1; $wall / 60" | bc) | $((rss / 1024)) | $gfs | $share% |"
done
if [ -n "$R" ] && [ "$R" -gt 1 ]; then # the allreduce of one step alone: one int64 per tuned weight of a block
    echo
    $RUN "$BUILD-mpi/bench/bench_allreduce" 14910000 10
fi
echo
echo "## AutoRound at scale, on paper: bench/cost_model.sh from the last run's $gfs GFLOP/s ($([ -n "$R" ] && echo "MPI build, exact sums, rank 0" || echo "plain build"))"
echo
sh bench/cost_model.sh "$gfs" 8
