/*
 * checkpoint.h - the quantize pipeline's checkpoint folder (--checkpoint DIR): after
 * every finished decoder block, the tensor data written so far and the calibration
 * streams at the next block's depth, so that a killed run resumes after its last
 * finished block and writes the bytes an uninterrupted run writes.  Knows nothing of
 * the pipeline: the caller names the streams and says what identifies the run.
 * The on-disk layout is described at the top of checkpoint.c.
 */
#ifndef GF_CHECKPOINT_H
#define GF_CHECKPOINT_H

#include "../common/gf.h"

typedef struct gf_ckpt gf_ckpt;

/* What a saved tensor's progress line showed, so a resumed run reports it again. */
typedef struct {
    const char *name;    /* GGUF tensor name                                     */
    uint64_t nbytes;     /* its data, as written to the GGUF (no padding)        */
    double e2, r2;       /* squared weight error and squared norm (0, 0: not measured) */
    double act_rel;      /* output-activation relative error, < 0: not measured  */
    double seconds;
} gf_ckpt_tensor;

/* Opens (creates when missing) the folder dir for a run identified by id: lines of
 * "what\tvalue\n" (the model, every option that changes the output).  When dir holds
 * a checkpoint it is checked: a damaged or truncated file is GF_E_FORMAT naming it,
 * a checkpoint of another run GF_E_USAGE naming the first line that differs
 * ("checkpoint DIR: option --iters was 50, now 200").  Leftover temporary files of a
 * killed run are removed. */
gf_status gf_ckpt_open(const char *dir, const char *id, gf_ckpt **out, gf_err *err);
/* The same checkpoint for reading only: no folder is created, nothing locked or
 * removed, and nothing may be written through it (a missing folder: nothing done).
 * Data-parallel runs open it so on the MPI ranks besides the writer, rank 0. */
gf_status gf_ckpt_open_reader(const char *dir, const char *id, gf_ckpt **out, gf_err *err);
void gf_ckpt_free(gf_ckpt *ck);

/* Blocks 0 .. n-1 are finished in the checkpoint (0: nothing to resume). */
int gf_ckpt_layers_done(const gf_ckpt *ck);
/* The saved tensors, in the order written: a prefix of the run's tensors. */
int gf_ckpt_n_tensors(const gf_ckpt *ck);
const gf_ckpt_tensor *gf_ckpt_tensor_at(const gf_ckpt *ck, int i);
/* Saved tensor i's data into dst (nbytes of it). */
gf_status gf_ckpt_read_tensor(const gf_ckpt *ck, int i, void *dst, gf_err *err);
/* Saved stream `name` into dst, which holds count floats; *found = 0 (and dst untouched)
 * when the checkpoint has no such stream, GF_E_FORMAT when its size differs. */
gf_status gf_ckpt_read_stream(const gf_ckpt *ck, const char *name, float *dst, uint64_t count, int *found,
                              gf_err *err);

/* While running: tensor data written after the last save, a tensor at a time
 * (begin, its bytes in any number of parts, end with its figures). */
gf_status gf_ckpt_tensor_begin(gf_ckpt *ck, const char *name, uint64_t nbytes, gf_err *err);
gf_status gf_ckpt_tensor_data(gf_ckpt *ck, const void *data, uint64_t n, gf_err *err);
gf_status gf_ckpt_tensor_end(gf_ckpt *ck, const gf_ckpt_tensor *figures, gf_err *err);

/* Block `layer` is finished: the tensors since the last save and the caller's n_info
 * bytes about the block (what it reported) become block file `layer`, then the state
 * (blocks 0 .. layer done, the n streams, names[i] of count[i] floats) replaces the
 * previous one.  Each file is written whole or not at all (temporary file, fsync,
 * rename), the state last: a kill at any moment leaves the previous checkpoint or the
 * new one. */
gf_status gf_ckpt_save(gf_ckpt *ck, int layer, const void *info, uint32_t n_info, int n, const char *const *names,
                       const float *const *src, const uint64_t *count, gf_err *err);
/* The bytes saved about finished block `layer` (*n of them), or NULL (*n = 0). */
const void *gf_ckpt_block_info(const gf_ckpt *ck, int layer, uint32_t *n);

#endif /* GF_CHECKPOINT_H */
