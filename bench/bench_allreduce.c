/*
 * bench_allreduce.c - the time of one gf_dist_sum_i64 (calib/dist.c: the
 * MPI_Allreduce of AutoRound's exact int64 gradient sums, in place) over
 * the ranks of mpirun: the communication part of one SignSGD step of the
 * MPI build (issue 15's cost model; BENCHMARKS.md).  MPI build only
 * (make MPI=1 BUILD=build-mpi build-mpi/bench/bench_allreduce).
 *
 *   mpirun -np 2 build-mpi/bench/bench_allreduce [N [REPS]]
 *
 * N int64 per call (default 14,910,000: the tuned weights of one
 * Qwen2.5-0.5B block), REPS timed calls after one warm-up (default 10).
 * Rank 0 prints the median seconds per call and the bytes per second of
 * N x 8 bytes.  Not a test: numbers only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef GF_MPI
#include <mpi.h>

#include "../calib/dist.h"

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    gf_err err = {0};
    if (gf_dist_init(&argc, &argv, &err)) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
        return 1;
    }
    const int rank = gf_dist_rank(), size = gf_dist_size();
    const long long n = argc > 1 ? atoll(argv[1]) : 14910000LL;
    const int reps = argc > 2 ? atoi(argv[2]) : 10;
    if (n < 1 || n > (1LL << 30) || reps < 1 || reps > 1000) {
        if (rank == 0) fprintf(stderr, "bench_allreduce: N must be 1..2^30 and REPS 1..1000\n");
        gf_dist_finalize();
        return 2;
    }
    int64_t *buf = malloc((size_t)n * sizeof *buf);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!buf || !t) {
        fprintf(stderr, "bench_allreduce: out of memory for %lld int64\n", n);
        gf_dist_abort(1);
        return 1;
    }
    for (long long i = 0; i < n; i++) buf[i] = i % 1000;
    int rc = gf_dist_sum_i64(buf, n, &err); /* warm-up */
    for (int k = 0; k < reps && !rc; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        rc = gf_dist_sum_i64(buf, n, &err);
        t[k] = MPI_Wtime() - t0;
    }
    if (rc) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
        gf_dist_abort(1);
        return 1;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    if (rank == 0)
        printf("gf_dist_sum_i64 of %lld int64 (%.1f MB) over %d ranks: %.3f s per call (median of %d, %.3f-%.3f), "
               "%.2f GB/s of the buffer\n",
               n, (double)n * 8 / 1e6, size, t[reps / 2], reps, t[0], t[reps - 1], (double)n * 8 / 1e9 / t[reps / 2]);
    free(buf);
    free(t);
    gf_dist_finalize();
    return 0;
}

#else

int main(void) {
    fprintf(stderr, "bench_allreduce: built without MPI; use make MPI=1 BUILD=build-mpi build-mpi/bench/bench_allreduce\n");
    return 1;
}

#endif
