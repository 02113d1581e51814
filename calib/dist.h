/*
 * dist.h - the few collective operations data-parallel AutoRound needs, behind
 * one interface: with -DGF_MPI (make MPI=1) they are MPI calls on
 * MPI_COMM_WORLD; without it they are those of one process (rank 0 of 1, every
 * reduction the identity), so the default build has no MPI dependency.
 * Only exact operations are offered (integer sums, maxima, sums of arrays that
 * at most one rank fills per element): their results do not depend on the
 * number of ranks or on the order MPI combines them in.
 */
#ifndef GF_DIST_H
#define GF_DIST_H

#include "../common/gf.h"

/* 1 in the MPI build: AutoRound then takes the exact gradient path (calib/
 * autoround_exact.c) whatever the number of ranks, 1 included, so mpirun -np R
 * writes the same bytes for every R.  0 in the plain build: AutoRound keeps its
 * faster batched float gradient and the bytes it has always written.  The one
 * place the build's choice is read (by calib/autoround.c's ar_grad_paths). */
#ifdef GF_MPI
#define GF_DIST_EXACT 1
#else
#define GF_DIST_EXACT 0
#endif

/* MPI_Init (GF_MPI builds) with MPI_ERRORS_RETURN on MPI_COMM_WORLD, so a
 * failed call returns a code that gf_dist_* turn into a gf_err. */
gf_status gf_dist_init(int *argc, char ***argv, gf_err *err);
/* MPI_Finalize after a successful run. */
void gf_dist_finalize(void);
/* Ends every rank of the job with exit code `code` (MPI_Abort), after a failure
 * that the other ranks may be waiting on; returns only without MPI. */
void gf_dist_abort(int code);
int gf_dist_rank(void); /* 0 .. size-1; 0 without MPI (and while solo)        */
int gf_dist_size(void); /* ranks in the job; 1 without MPI (and while solo)   */
/* gf_dist_solo(1) .. gf_dist_solo(0): this rank works alone, as a job of one (rank 0 of 1,
 * every collective the identity), for work that is its own: under --fp-inputs each rank
 * tunes whole blocks (calib/autoround.c).  Set outside parallel regions. */
void gf_dist_solo(int on);
/* Rank r's share [*lo, *hi) of n items split contiguously over size ranks:
 * lo = r*n/size, so shares differ by at most one and rank order is item order. */
void gf_dist_split(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);

/* In place, on every rank: buf[i] = the sum over ranks of buf[i] (exact). */
gf_status gf_dist_sum_i64(int64_t *buf, int64_t n, gf_err *err);
/* In place, on every rank: buf[i] = the maximum over ranks (exact). */
gf_status gf_dist_max_f64(double *buf, int64_t n, gf_err *err);
/* In place, on every rank: buf[i] = the sum over ranks, where at most one rank
 * holds a non-zero buf[i] (the others 0): exact, so each element arrives as
 * that one rank computed it. */
gf_status gf_dist_gather_f64(double *buf, int64_t n, gf_err *err);

/* n bytes from rank `from` to rank `to` (point to point, in chunks): the rank that
 * tuned a block alone hands its result to rank 0, the writer.  Without MPI: never
 * called (one process has no other rank), GF_E_USAGE. */
gf_status gf_dist_send(const void *buf, int64_t n, int to, gf_err *err);
gf_status gf_dist_recv(void *buf, int64_t n, int from, gf_err *err);

#endif /* GF_DIST_H */
