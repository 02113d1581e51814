#!/bin/sh
# cost_model.sh - AutoRound's expected wall time at scale, on paper (issue 15), from two measured
# figures of this machine and the shapes of the models:
#   GFS    sustained GFLOP/s of one machine on the block pass (the whole 0.5B-shape run's figure,
#          bench/autoround_model.sh; default: 101, the 2-core run in BENCHMARKS.md)
#   BYTES  allreduce bytes per tuned weight per iteration (8: the MPI build's exact sums are one int64
#          per weight of dL/dWq; a float allreduce would be 4)
# and the recipe ITERS x (NSAMPLES x SEQLEN), batch BATCH (default auto-round's own: 200, 128 x 2048, 8).
# Per block and iteration: work = BATCH x (SEQLEN x 6 P + SEQLEN (SEQLEN+1)/2 x 12 Dq) flop (forward 2P,
# backward 4P per token; attention 4 Dq forward and 8 Dq backward per query-key pair), plus 3 forward
# passes over all samples per block (targets, min-max baseline, the kept iterate).  R machines split each
# minibatch's samples (at most BATCH of them do work: the others wait), and every iteration allreduces
# BYTES x P over a ring: 2 (R-1)/R x BYTES x P / bandwidth, plus LAT seconds (default 50 us) per
# iteration.  Blocks run one after another (each is tuned on the outputs of those before it).
# With --fp-inputs (blocks independent) the R machines could also take whole blocks: the last column
# splits R = BATCH x (R / BATCH) that way when R > BATCH.
# Usage: sh bench/cost_model.sh [GFS [BYTES]]   (env ITERS, NSAMPLES, SEQLEN, BATCH, LAT override)
GFS=${1:-101}
BYTES=${2:-8}
awk -v gfs="$GFS" -v bytes="$BYTES" -v iters="${ITERS:-200}" -v ns="${NSAMPLES:-128}" -v T="${SEQLEN:-2048}" \
    -v B="${BATCH:-8}" -v lat="${LAT:-0.00005}" '
# seconds of each step: a ring allreduce of bytes x P over r machines on a g Gbit/s link
function ring(r, P, g) { return r > 1 ? 2 * (r - 1) / r * bytes * P / (g / 8 * 1e9) + lat : 0 }
function hms(s) { return s < 3600 ? sprintf("%.0f min", s / 60) : s < 172800 ? sprintf("%.1f h", s / 3600) : sprintf("%.1f d", s / 86400) }
BEGIN {
    # name, layers, P per block (7 matrices), Dq
    n = split("Qwen2.5-0.5B 24 14.91e6 896|Qwen2.5-7B 28 233.0e6 3584|Qwen2.5-72B 80 877.7e6 8192", m, "|")
    printf "recipe: %d iterations, %d x %d tokens, batch %d; %.0f GFLOP/s per machine; allreduce %d bytes per weight\n\n",
        iters, ns, T, B, gfs, bytes
    printf "| model | machines | link | compute per iteration | allreduce per iteration | per block | whole model | with --fp-inputs blocks spread |\n"
    printf "|---|---|---|---|---|---|---|---|\n"
    for (i = 1; i <= n; i++) {
        split(m[i], f, " ")
        L = f[2]; P = f[3]; Dq = f[4]
        it_flop = B * (T * 6 * P + T * (T + 1) / 2 * 12 * Dq)
        fixed_flop = 3 * ns * (T * 2 * P + T * (T + 1) / 2 * 4 * Dq)
        split("1 8 64", rs, " ")
        for (k = 1; k <= 3; k++) {
            R = rs[k]
            for (g = 10; g <= 100; g *= 10) {
                if (R == 1 && g == 100) continue
                share = R < B ? B / R : 1        # samples per busy machine
                share = int(share) < share ? int(share) + 1 : share
                comp = share * it_flop / B / (gfs * 1e9)
                ar = ring(R, P, g)
                fixed = fixed_flop / (R < ns ? R : ns) / (gfs * 1e9)
                blk = iters * (comp + ar) + fixed
                whole = L * blk
                # --fp-inputs: groups of B machines each take whole blocks
                if (R > B) {
                    groups = R / B
                    arB = ring(B, P, g)
                    blkB = iters * (it_flop / B / (gfs * 1e9) + arB) + fixed_flop / B / (gfs * 1e9)
                    fp = hms(blkB * (L / groups > int(L / groups) ? int(L / groups) + 1 : L / groups))
                } else fp = "-"
                printf "| %s | %d | %s | %.1f s | %s | %s | %s | %s |\n", f[1], R, R == 1 ? "-" : g " Gbit/s",
                    comp, R == 1 ? "-" : sprintf("%.2f s", ar), hms(blk), hms(whole), fp
            }
        }
    }
}'
