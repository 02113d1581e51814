/*
 * method.h - quantization methods: how a tensor's blocks are chosen, as opposed
 * to its type (which block format).  A registry of table entries looked up by the
 * name the CLI uses (--blocks, --embed, --output).  Every method says through its
 * entry what it needs from the pipeline (importance statistics, calibration
 * inputs, the quantized path, the tuning settings, the head's input moment) and
 * what it does (a row quantizer, and optional hooks run per decoder block, on the
 * embedding/output head, and when the metadata is written).  convert/ and cli/
 * read these fields and never a method's name.
 *
 * Adding a row method: its quantize_row and one entry in method.c.  Adding a block
 * method: its file in calib/ (the algorithm, its hooks and its entry, a
 * `const gf_qmethod`) and one line in method.c's list.
 */
#ifndef GF_METHOD_H
#define GF_METHOD_H

#include "../common/types.h"

/* Types of the layers above, used here only through pointers. */
struct gf_calib;        /* calib/calib.h: the calibration run a block hook works on */
struct gf_gguf_writer;  /* formats/gguf.h                                           */
struct gf_ar_opts;      /* calib/autoround.h: the tuning settings                   */
struct gf_awq_report;   /* calib/awq.h                                              */
struct gf_ar_report;    /* calib/autoround.h                                        */
struct gf_imatrix;      /* formats/imatrix.h: importance statistics                 */

/* Quantizes one row of k floats (k a multiple of the type's block size) into dst.
 * importance: (k) per-input-channel weights of the error (mean x^2 of the
 * activations feeding that column), or NULL. Pure function of its inputs. */
typedef void (*gf_row_quantizer)(gf_type type, const float *x, void *dst, int64_t k, const float *importance);

/* What the pipeline hands a method's hooks. */
typedef struct {
    const struct gf_ar_opts *tuning; /* settings of tuning methods (--recipe, --iters, --lr,
                                        --batch); never NULL                          */
    const char *recipe;              /* their recipe's name, recorded in the GGUF     */
    const struct gf_imatrix *imatrix; /* importance statistics when the run has them (--imatrix,
                                        or calibration's), else NULL: AutoRound's imatrix start */
    /* every few tuning iterations (ctx: the pipeline's progress context) */
    void (*tune_progress)(void *ctx, int layer, int iter, int iters, double loss, double best, double elapsed);
    void *ctx;
} gf_method_env;

/* What a block hook did, for the progress line and the report.  In: storage for
 * each kind of report (the caller's); out: the hook sets to NULL the ones it did
 * not fill. */
typedef struct {
    struct gf_awq_report *awq;
    struct gf_ar_report *ar;
} gf_block_report;

/* Transforms or tunes decoder block `layer`, loaded in c (gf_calib_load_layer), for
 * matrices of `type` (Q4_0 or Q8_0): rewrites the block's float weights in c and/or
 * leaves its final blocks in c->qblocks, and advances c's activations past the block. */
typedef gf_status (*gf_block_hook)(struct gf_calib *c, int layer, gf_type type, const gf_method_env *env,
                                   gf_block_report *rep, gf_err *err);
/* Chooses the blocks of n_rows independent rows W (n_rows, n_in) of the embedding or
 * output head together, minimizing each row's (w - q)ᵀ H (w - q) (H: n_in x n_in);
 * writes gf_row_size(type, n_in) * n_rows bytes to blocks. */
typedef gf_status (*gf_head_hook)(gf_type type, const float *W, int64_t n_rows, int64_t n_in, const float *H,
                                  const gf_method_env *env, void *blocks, gf_err *err);
/* Writes the method's own GGUF keys (its settings); a gguf writer status. */
typedef gf_status (*gf_meta_hook)(struct gf_gguf_writer *w, const gf_method_env *env);

typedef struct {
    const char *name;            /* CLI spelling                                          */
    const char *help;            /* one line for --list                                   */
    int uses_importance;         /* reads per-channel activation statistics (quantize_row's
                                    importance: --imatrix, or calibration)                */
    int needs_qpath;             /* its block hook reads the quantized path's activations
                                    (c->xq), started before block 0                       */
    int tunes;                   /* reads the tuning settings (env.tuning; the CLI's
                                    --recipe, --iters, --lr, --batch)                      */
    const char *blocks_only;     /* why it cannot choose the embedding's or output's blocks
                                    (the CLI refuses it there), or NULL                   */
    gf_row_quantizer quantize_row;
    gf_block_hook transform_block; /* per decoder block before its rows are written, with
                                      calibration inputs (awq, autoround); or NULL      */
    gf_head_hook tune_head;      /* the embedding/output head's rows, with the second
                                    moment of the head's calibration inputs; or NULL      */
    gf_meta_hook write_meta;     /* when the method chose the blocks' weights; or NULL    */
    /* When this method chooses the decoder blocks (--blocks) and so calibrates anyway:
     * the methods of the token embedding of a tied model (which is its output head
     * too) and of an untied model's output head, unless --embed/--output name one
     * (NULL: minmax), and the measurement that chose them, which quantize prints.
     * Neither may tune or calibrate where the block method does not. */
    const char *embed_default, *output_default, *heads_why;
} gf_qmethod;

const gf_qmethod *gf_qmethod_find(const char *name); /* NULL if unknown */
const gf_qmethod *gf_qmethod_at(int i);              /* i-th entry, NULL past the end */
const gf_qmethod *gf_qmethod_default(void);          /* minmax: a tensor's method when none is given */
/* Fills *embed and *output where they are NULL with the head methods that `blocks`
 * names for a model whose output head is (tied) or is not its embedding; an untied
 * embedding, a lookup table whose only error is the weight error, gets omse.
 * Returns blocks' reason, or NULL (and leaves both alone) when it names none. */
const char *gf_qmethod_heads(const gf_qmethod *blocks, int tied, const gf_qmethod **embed, const gf_qmethod **output);
/* Needs calibration activations when chosen for some tensor (given an imatrix or not). */
int gf_qmethod_calibrates(const gf_qmethod *m, int have_imatrix);

/* The row quantizers, callable directly (tests compare them). */
void gf_quantize_row_minmax(gf_type type, const float *x, void *dst, int64_t k, const float *importance);
void gf_quantize_row_omse(gf_type type, const float *x, void *dst, int64_t k, const float *importance);
void gf_quantize_row_importance(gf_type type, const float *x, void *dst, int64_t k, const float *importance);

#endif /* GF_METHOD_H */
