/*
 * convert.h - Hugging Face folder or GGUF -> GGUF: the pipeline every quantization
 * method plugs into.  Reads config.json, tokenizer files and safetensors (or a
 * GGUF of any readable type, its metadata copied through), picks a block type per
 * tensor, and streams the GGUF to a sink tensor by tensor.
 */
#ifndef GF_CONVERT_H
#define GF_CONVERT_H

#include "../common/types.h"
#include "../formats/gguf.h"
#include "../calib/autoround.h"
#include "../calib/awq.h"
#include "../calib/calib.h"
#include "../formats/imatrix.h"
#include "../quantizers/method.h"

typedef struct {
    const char *regex;  /* POSIX extended regex on the GGUF tensor name */
    gf_type type;
} gf_type_rule;

/* One line of progress: sent before (done == 0) and after (done == 1) each tensor. */
typedef struct {
    int index, count;          /* 1-based position among the tensors written */
    const char *hf_name, *name;
    int n_dims;
    int64_t ne[4];             /* GGUF order: ne[0] is the row length        */
    gf_type src_type, type;
    const char *note;          /* why the type differs from the one asked for, or NULL */
    uint64_t nbytes;
    double seconds;
    const char *method;        /* the method that chose the blocks                  */
    double w_mse;              /* mean squared error of the written weights (done)  */
    double w_rel;              /* ||W - Q(W)|| / ||W||                              */
    double act_rel;            /* ||X(W - Q)ᵀ|| / ||XWᵀ|| on calibration inputs X (the
                                  embedding: rows looked up by calibration tokens); < 0:
                                  not measured (no probe, or not a matrix)            */
    int done;
} gf_convert_event;

/* What a block transform (awq, autoround) did to one decoder block. */
typedef struct gf_block_event {
    int layer, n_layers;
    const char *method;
    const gf_awq_report *awq;  /* NULL unless AWQ ran   */
    const gf_ar_report *ar;    /* NULL unless AutoRound ran */
    double seconds;
    int saved;                 /* 1: done by an earlier run, read back from its checkpoint */
} gf_block_event;

/* A PEFT LoRA adapter to merge before quantizing (formats/lora.h). */
typedef struct {
    const char *dir;           /* adapter_config.json + adapter_model.safetensors */
    double scale;              /* --lora-scale: multiplies alpha / r              */
} gf_lora_spec;

typedef struct {
    gf_type type;              /* linear weights of the blocks                    */
    int embed_type;            /* token embedding; -1: default for `type`         */
    int output_type;           /* output / lm_head; -1: default for `type`        */
    int pure;                  /* every 2-D weight gets `type`                    */
    const gf_type_rule *rules; /* --tensor-type overrides, first match wins       */
    int n_rules;
    int vocab_only;            /* vocabulary and metadata, no tensors             */
    const gf_qmethod *blocks;  /* method for the decoder blocks' weights; NULL: minmax */
    const gf_qmethod *embed;   /* method for token_embd; NULL: minmax              */
    const gf_qmethod *output;  /* method for output (lm_head); NULL: minmax        */
    const gf_imatrix *imatrix; /* per-channel importance (mean x^2), or NULL       */
    const char *imatrix_name;  /* where it came from, recorded in the GGUF         */
    const gf_lora_spec *lora;  /* adapters merged into the weights, in order (n_lora) */
    int n_lora;
    const gf_calib_opts *calib;/* samples for activation-aware methods when there is
                                  no imatrix (text NULL: the built-in text)        */
    void (*calib_progress)(void *ctx, int layer, int n_layers);
    const gf_ar_opts *autoround; /* AutoRound settings (NULL: the default recipe)   */
    const char *ar_recipe;     /* recipe name recorded in the GGUF                  */
    gf_ar_progress ar_progress;/* every few AutoRound iterations (ctx: progress_ctx) */
    /* after a block transform: what it did to the decoder block */
    void (*block_progress)(void *ctx, const struct gf_block_event *ev);
    const char *name;          /* general.name; NULL: the folder's name           */
    int measure;               /* compute each tensor's weight error (w_mse, w_rel) */
    int act_error;             /* and its output-activation error (act_rel) on a few
                                  calibration samples (calib/probe.h)                */
    void (*progress)(void *ctx, const gf_convert_event *ev);
    /* a line the user should read before the run (a quantized GGUF input is
       requantized: the reference is its dequantized weights); ctx: progress_ctx */
    void (*notice)(void *ctx, const char *text);
    void *progress_ctx;
    volatile int *cancel;      /* checked between tensors; set by a signal handler */
    const char *checkpoint;    /* a block method's run is saved there after every block,
                                  and resumed from it (calib/checkpoint.h); NULL: not  */
    /* after a checkpoint is saved with blocks 0 .. n_done-1 (resumed 0), or when a run
       resumes after them (resumed 1); ctx: progress_ctx */
    void (*checkpoint_event)(void *ctx, const char *dir, int n_done, int resumed);
} gf_convert_opts;

typedef struct {
    int n_tensors, n_fallback;
    uint64_t n_params;         /* elements of all tensors                */
    uint64_t n_quant_params;   /* elements of the 2-D weights            */
    uint64_t in_bytes;         /* tensor bytes read from safetensors     */
    uint64_t out_bytes;        /* bytes of the GGUF                      */
    uint64_t quant_bytes;      /* tensor bytes of the 2-D weights        */
    double seconds;
    const char *embed_method;  /* the methods the embedding and output head got */
    const char *output_method; /* (given, or the block method's defaults)       */
} gf_convert_summary;

/* The type `type` implies for the embedding and output when not given. */
gf_type gf_convert_default_embed_type(gf_type type);
/* llama.cpp's general.file_type for a base type. */
uint32_t gf_ftype_of(gf_type type);

/* model: a Hugging Face folder, or a GGUF file (detected by its magic). */
gf_status gf_convert(const char *model_dir, gf_sink *sink, const gf_convert_opts *o, gf_convert_summary *sum,
                     gf_err *err);

#endif /* GF_CONVERT_H */
