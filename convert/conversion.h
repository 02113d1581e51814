/*
 * conversion.h - the quantize pipeline's private state, shared by its two files:
 * convert/convert.c (plan, calibrate, write the header, stream, report) and
 * convert/resume.c (its side of --checkpoint).  Not for use outside convert/.
 */
#ifndef GF_CONVERSION_H
#define GF_CONVERSION_H

#include <regex.h>

#include "../calib/checkpoint.h"
#include "../calib/probe.h"
#include "../formats/gguf.h"
#include "../formats/lora.h"
#include "../formats/safetensors.h"
#include "../formats/vocab.h"
#include "convert.h"

typedef struct {
    const gf_st_tensor *src;
    gf_tensor_map map;
    gf_type type;
    const gf_qmethod *method;
    const float *importance;   /* (row_len) from the importance matrix, or NULL */
    const float *head_h;       /* (row_len, row_len): the method tunes the embedding/output
                                  head (tune_head), rows under this quadratic form; or NULL */
    const gf_method_env *env;  /* what the method's hooks receive                   */
    int measure;               /* compute the weight error while quantizing     */
    int on_grid;               /* every block is already on the type's grid: written
                                  exactly (gf_quantize_row_exact), no method runs  */
    char note[160];
    int group; /* order in the file: embedding, blocks, output norm, output */
} plan_entry;

/* ---------------------------------------------------------------- the conversion's state */

/* What the block method reported about a block, as a checkpoint keeps it: raw bytes,
 * read back only by a build of the same version (the identity says so) and of the
 * same size. */
typedef struct {
    int32_t reported, has_awq, has_ar, pad; /* reported 0: the block was not tuned */
    double seconds;
    gf_awq_report awq;
    gf_ar_report ar;
} block_figures;

/* Everything one gf_convert owns, so that its steps (plan, calibrate, write_header,
 * stream, report) share it and one function frees it. */
typedef struct {
    const char *dir;
    const gf_convert_opts *o;
    gf_convert_summary *sum;
    const gf_qmethod *embed_m, *output_m; /* the heads' methods: o's, or the block method's
                                             defaults for this model (gf_qmethod_heads) */
    gf_hfcfg hp;
    gf_safetensors *st;        /* NULL for --vocab-only of a folder                     */
    gf_lora lora;              /* the --lora adapters, merged as st's rows are read     */
    gf_gguf *src;              /* a GGUF input (its metadata is copied through), or NULL */
    gf_vocab *vocab;
    gf_gguf_writer *w;
    regex_t *rx;               /* the --tensor-type rules, compiled                     */
    int n_rx;
    plan_entry *plan;          /* (n) in file order                                     */
    int n;
    gf_ar_opts tuning;         /* o->autoround, or the default recipe's                 */
    gf_method_env env;         /* what the methods' hooks receive                       */
    gf_calib_opts co;
    const gf_imatrix *imx;     /* o->imatrix, or the statistics calibration measured    */
    gf_imatrix *calib_imx;
    gf_calib *calib;           /* the calibration run (statistics, or the block method's) */
    const gf_qmethod *bt;      /* the blocks' method when it has a block hook, or NULL  */
    gf_probe *probe;           /* samples for the output-activation error, or NULL      */
    float *head_h;             /* (D, D) second moment of the head's calibration inputs */
    float *head_out, *head_tied, *head_eye; /* the quadratic form of each head role     */
    int64_t max_row;           /* longest row of any tensor                             */
    float *buf;                /* a chunk of float rows                                 */
    uint8_t *qbuf;             /* its blocks                                            */
    double *scratch;           /* per-row error sums of a chunk                         */
    float *act_tmp;            /* act_acc's scratch                                     */
    int bt_layer, probe_layer, probe_final; /* where the calibration and probe stand    */
    gf_ckpt *ck;               /* --checkpoint: the folder, or NULL                     */
    int ck_done;               /* tensors 0 .. ck_done-1 come from the checkpoint       */
    int ck_capture;            /* the tensor being written goes into the checkpoint too */
    int ck_writer;             /* this process saves the checkpoint (rank 0 under MPI)  */
    block_figures fig;         /* what the block method reported about the current block */
} conversion;

/* ---------------------------------------------------------------- convert/resume.c */

/* --checkpoint: opens the folder, refusing a checkpoint of another run (before any calibration work). */
gf_status gf_convert_ckpt_open(conversion *cv, gf_err *err);
/* After calibration is set up: when the checkpoint holds blocks, the run goes on after them
 * (the calibration's streams read back, the saved blocks' reports replayed). */
gf_status gf_convert_ckpt_resume(conversion *cv, gf_err *err);
/* Block `layer`'s last tensor is written: the checkpoint gets the blocks so far and the
 * streams at the next block's input. */
gf_status gf_convert_ckpt_save(conversion *cv, int layer, gf_err *err);
/* Tensor i as the checkpoint has it, written to the GGUF: its figures into *e2, *r2 and ev. */
gf_status gf_convert_ckpt_tensor(conversion *cv, int i, gf_sink *sink, gf_convert_event *ev, double *e2, double *r2,
                                 gf_err *err);

#endif /* GF_CONVERSION_H */
