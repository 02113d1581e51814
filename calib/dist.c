/*
 * dist.c - gf_dist_*: MPI_COMM_WORLD collectives when built with -DGF_MPI,
 * otherwise the one-process versions (rank 0 of 1, reductions are the
 * identity).  Every MPI call is checked (MPI_ERRORS_RETURN is set at init) and
 * a failure becomes GF_E_IO with MPI's own message, so rank 0 can remove its
 * temporary output and exit non-zero.  Also point-to-point bytes (a block one
 * rank tuned alone, to rank 0) and the solo switch.  Nothing here prints.
 */
#include "dist.h"

#include <stdlib.h>

static int solo; /* gf_dist_solo */

void gf_dist_solo(int on) { solo = on; }

#ifdef GF_MPI
#include <limits.h>
#include <mpi.h>

/* gf_errf with MPI's text for rc */
static gf_status mpi_fail(gf_err *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return gf_errf(err, GF_E_IO, "%s failed on rank %d of %d: %s (a rank may have died)", what, gf_dist_rank(),
                   gf_dist_size(), msg);
}

gf_status gf_dist_init(int *argc, char ***argv, gf_err *err) {
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) return gf_errf(err, GF_E_IO, "MPI_Init failed (code %d)", rc);
    rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return rc == MPI_SUCCESS ? GF_OK : mpi_fail(err, rc, "MPI_Comm_set_errhandler");
}

void gf_dist_finalize(void) {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Finalize();
}

void gf_dist_abort(int code) {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down && gf_dist_size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int gf_dist_rank(void) {
    int up = 0, r = 0;
    MPI_Initialized(&up);
    if (up && !solo) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int gf_dist_size(void) {
    int up = 0, n = 1;
    MPI_Initialized(&up);
    if (up && !solo) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

/* MPI counts are int: large arrays go in chunks (each chunk's result is exact, so chunking changes nothing) */
#define CHUNK ((int64_t)1 << 28)

static gf_status allreduce(void *buf, int64_t n, size_t elt, MPI_Datatype t, MPI_Op op, const char *what,
                           gf_err *err) {
    if (gf_dist_size() == 1) return GF_OK;
    for (int64_t i = 0; i < n; i += CHUNK) {
        const int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)i * elt, k, t, op, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, what);
    }
    return GF_OK;
}

gf_status gf_dist_sum_i64(int64_t *buf, int64_t n, gf_err *err) {
    return allreduce(buf, n, sizeof *buf, MPI_INT64_T, MPI_SUM, "MPI_Allreduce (gradient sum)", err);
}

gf_status gf_dist_max_f64(double *buf, int64_t n, gf_err *err) {
    return allreduce(buf, n, sizeof *buf, MPI_DOUBLE, MPI_MAX, "MPI_Allreduce (gradient bound)", err);
}

gf_status gf_dist_gather_f64(double *buf, int64_t n, gf_err *err) {
    return allreduce(buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM, "MPI_Allreduce (per-sample losses)", err);
}

gf_status gf_dist_send(const void *buf, int64_t n, int to, gf_err *err) {
    for (int64_t i = 0; i < n; i += CHUNK) {
        const int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Send((const char *)buf + i, k, MPI_BYTE, to, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Send (a tuned block)");
    }
    return GF_OK;
}

gf_status gf_dist_recv(void *buf, int64_t n, int from, gf_err *err) {
    for (int64_t i = 0; i < n; i += CHUNK) {
        const int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Recv((char *)buf + i, k, MPI_BYTE, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Recv (a tuned block)");
    }
    return GF_OK;
}

#else /* one process */

gf_status gf_dist_init(int *argc, char ***argv, gf_err *err) {
    (void)argc, (void)argv, (void)err;
    return GF_OK;
}
void gf_dist_finalize(void) {}
void gf_dist_abort(int code) { (void)code; }
int gf_dist_rank(void) { return 0; }
int gf_dist_size(void) { return 1; }
gf_status gf_dist_sum_i64(int64_t *buf, int64_t n, gf_err *err) { return (void)buf, (void)n, (void)err, GF_OK; }
gf_status gf_dist_max_f64(double *buf, int64_t n, gf_err *err) { return (void)buf, (void)n, (void)err, GF_OK; }
gf_status gf_dist_gather_f64(double *buf, int64_t n, gf_err *err) { return (void)buf, (void)n, (void)err, GF_OK; }
gf_status gf_dist_send(const void *buf, int64_t n, int to, gf_err *err) {
    return (void)buf, gf_errf(err, GF_E_USAGE, "no rank %d to send %lld bytes to: one process", to, (long long)n);
}
gf_status gf_dist_recv(void *buf, int64_t n, int from, gf_err *err) {
    return (void)buf, gf_errf(err, GF_E_USAGE, "no rank %d to receive %lld bytes from: one process", from, (long long)n);
}

#endif

void gf_dist_split(int64_t n, int rank, int size, int64_t *lo, int64_t *hi) {
    *lo = n * rank / size;
    *hi = n * (rank + 1) / size;
}
