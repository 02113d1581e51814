/*
 * outfile.h - an output file that appears whole or not at all: data goes to a
 * temporary file beside the target, which is fsynced and renamed over it only
 * on commit.  An existing target is never replaced unless force is set.
 */
#ifndef GF_OUTFILE_H
#define GF_OUTFILE_H

#include "../common/gf.h"

typedef struct gf_outfile gf_outfile;

/* Fails with GF_E_EXISTS if path exists and !force, GF_E_IO if the folder is not writable. */
gf_status gf_outfile_open(const char *path, int force, gf_outfile **out, gf_err *err);
/* A gf_sink write function: ctx is the gf_outfile. Buffered. */
gf_status gf_outfile_write(void *ctx, const void *buf, size_t n, gf_err *err);
/* Flushes, fsyncs, renames into place; frees f whatever happens (the temp is removed on failure). */
gf_status gf_outfile_commit(gf_outfile *f, gf_err *err);
/* Removes the temporary file and frees f; NULL does nothing. */
void gf_outfile_abort(gf_outfile *f);
/* The temporary file's path, for a signal handler that must unlink it. */
const char *gf_outfile_temp_path(const gf_outfile *f);
uint64_t gf_outfile_bytes(const gf_outfile *f);

#endif /* GF_OUTFILE_H */
