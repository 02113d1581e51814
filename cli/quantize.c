/*
 * quantize.c - `gguf-forge quantize`: options (one table of spellings and actions),
 * progress lines and the summary.
 * The work is convert/convert.c; this file parses, prints, and owns the output
 * file's lifecycle (temporary file, removed on error and on SIGINT/SIGTERM).
 */
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../common/textfile.h"
#include "../convert/convert.h"
#include "../calib/awq.h"
#include "../calib/dist.h"
#include "../formats/imatrix.h"
#include "../formats/outfile.h"
#include "cli.h"

#define MAX_RULES 64
#define MAX_LORA 16

/* "minmax, omse, imatrix or autoround": the names of the methods that keep() accepts */
static void method_list(int (*keep)(const gf_qmethod *), char *buf, size_t n) {
    int k = 0, count = 0;
    for (int i = 0; gf_qmethod_at(i); i++) count += keep(gf_qmethod_at(i));
    buf[0] = '\0';
    for (int i = 0; gf_qmethod_at(i); i++) {
        const gf_qmethod *m = gf_qmethod_at(i);
        if (!keep(m)) continue;
        k++;
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", k == 1 ? "" : k == count ? " or " : ", ", m->name);
    }
}
/* the methods that may choose a head's blocks */
static int chooses_heads(const gf_qmethod *m) { return !m->blocks_only; }
/* the block methods --fp-inputs applies to: those tuned on the quantized path (AutoRound's) */
static int tunes_on_qpath(const gf_qmethod *m) { return m->needs_qpath; }

static void help(FILE *f) {
    char types[256], qpath[128];
    gf_type_list(gf_type_can_write, types, sizeof types); /* the types the writer has a quantizer for */
    method_list(tunes_on_qpath, qpath, sizeof qpath);
    fprintf(f,
            "usage: gguf-forge quantize MODEL_DIR -o OUT.gguf [options]\n\n"
            "Converts a Hugging Face model folder (config.json, tokenizer.json, *.safetensors in F32/BF16/F16,\n"
            "single or sharded) into a GGUF file that llama.cpp loads.\n\n"
            "  -o, --outfile PATH         output GGUF file (written to a temporary file, renamed when complete)\n"
            "  --type TYPE                block type of the linear weights: %s (default q8_0)\n"
            "  --embed-type TYPE          token embedding type (alias --token-embedding-type);\n"
            "                             default q8_0 for --type q4_0, else the --type\n"
            "  --output-type TYPE         output/lm_head type of untied models (alias --output-tensor-type); same default\n"
            "  --pure                     every 2-D weight gets --type (as llama-quantize --pure)\n"
            "  --tensor-type REGEX=TYPE   type for GGUF tensor names matching REGEX (POSIX extended); repeatable,\n"
            "                             first match wins, e.g. --tensor-type 'ffn_down=q8_0'\n"
            "  --blocks METHOD            how the blocks of the decoder layers' weights are chosen (default minmax)\n"
            "  --embed METHOD             ... of the token embedding (default minmax; with a calibrating --blocks\n"
            "                             method, the method that measured best for the role: see --list)\n"
            "  --output METHOD            ... of the output/lm_head of untied models (default: as --embed)\n"
            "  --imatrix FILE             importance matrix written by llama-imatrix (.dat), for method imatrix\n"
            "  --lora DIR                 merge a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors)\n"
            "                             into the weights before quantizing: W + s*B*A, s = lora_alpha/r (rsLoRA:\n"
            "                             /sqrt(r)); repeatable, applied in order\n"
            "  --lora-scale X             multiplies s of the --lora before it (default 1)\n"
            "  --calib FILE               calibration text for activation-aware methods, may be gzip-compressed\n"
            "                             (default: a built-in 65 KB English text); --nsamples N (128) windows\n"
            "                             of --seqlen N (512) tokens, picked with --seed N (0)\n"
            "  --report FILE              per-tensor JSON report: type, method, weight MSE, relative error, time,\n"
            "                             and (when calibration runs: --calib or an activation-aware method) the\n"
            "                             output-activation relative error on calibration tokens; with a block\n"
            "                             method also per block: AWQ alphas, AutoRound loss before/after\n"
            "  --recipe light|default|best  AutoRound recipe (2-core machine): light = 50 iterations, 32 samples x 128\n"
            "                             tokens, batch 4; default = 200 iterations, 64 x 128, batch 4; best = 1000\n"
            "                             iterations, 128 x 256, batch 4. --iters N, --batch N, --nsamples N,\n"
            "                             --seqlen N override single numbers (auto-round's own: 128 x 2048, batch 8)\n"
            "  --lr auto|X                AutoRound learning rate (auto: 1/iters, decaying linearly to 0)\n"
            "  --init imatrix|minmax      AutoRound's starting scales: the imatrix method's (default; from --imatrix\n"
            "                             or calibration's statistics), or min-max's (the original AutoRound)\n"
            "  --fp-inputs                with --blocks %s: tune every block on the float model's inputs\n"
            "                             instead of those of the blocks quantized before it (auto-round's\n"
            "                             --disable_quanted_input); blocks no longer depend on each other\n"
            "  --checkpoint DIR           with a block method (--blocks awq, autoround, awq+autoround): save the run\n"
            "                             in DIR after every decoder block; the same command again resumes after\n"
            "                             the last saved block and writes the same bytes. A checkpoint of another\n"
            "                             model or other options is refused, naming the difference\n"
            "  --list                     list the methods\n"
            "  --vocab-only               write the vocabulary and metadata only, no tensors\n"
            "  --name NAME                general.name (default: the folder's name)\n"
            "  -t, --threads N            threads (default: all cores)\n"
            "  --force                    replace OUT.gguf if it exists\n"
            "  -q, --quiet                no per-tensor progress\n\n"
            "Type and method are separate: --type says which block format a tensor gets, --blocks/--embed/--output\n"
            "say how its blocks are chosen.\n"
            "1-D tensors (norms, biases) stay f32. A 2-D tensor whose rows are not a multiple of 32 cannot hold\n"
            "Q4_0/Q8_0 blocks: it is written as f16, with a notice. Exit codes: see gguf-forge --help.\n",
            types, qpath);
}

/* ---------------------------------------------------------------- printing */

typedef struct {
    int quiet;
    int rank, ranks;      /* this MPI rank and the job's (taken at the start: a rank tuning a
                             block alone is a job of one meanwhile, gf_dist_solo); a rank
                             other than 0 prints nothing but its own errors */
    cJSON *report;        /* array of per-tensor objects, or NULL */
    cJSON *report_blocks; /* array of per-block objects (block methods), or NULL */
    int blocks_done, ar_blocks, n_layers;
    double block_seconds;
    double ar_seconds, ar_gflop; /* AutoRound blocks: their time and analytic work */
    /* per kind of matrix (gf_report_kind): sums for the closing table */
    int n_kind[GF_REPORT_KINDS], n_kind_act[GF_REPORT_KINDS];
    double kind_w[GF_REPORT_KINDS], kind_act[GF_REPORT_KINDS], kind_s[GF_REPORT_KINDS];
    const char *kind_type[GF_REPORT_KINDS], *kind_method[GF_REPORT_KINDS];
} progress_ctx;

/* the closing table: mean errors per kind of matrix */
static void print_kinds(const progress_ctx *pc) {
    fprintf(stderr, "\n  %-12s %-5s %-13s %8s %12s %12s %9s\n", "matrices", "type", "method", "count", "weight rel.",
            "output rel.", "seconds");
    for (int k = 0; k < GF_REPORT_KINDS; k++) {
        if (!pc->n_kind[k]) continue;
        char act[32] = "-";
        if (pc->n_kind_act[k]) snprintf(act, sizeof act, "%.4g", pc->kind_act[k] / pc->n_kind_act[k]);
        fprintf(stderr, "  %-12s %-5s %-13s %8d %12.4g %12s %9.2f\n", gf_report_kind_name(k), pc->kind_type[k],
                pc->kind_method[k], pc->n_kind[k], pc->kind_w[k] / pc->n_kind[k], act, pc->kind_s[k]);
    }
    fputc('\n', stderr);
}

static void fmt_shape(char *buf, size_t n, int n_dims, const int64_t *ne) {
    if (n_dims == 1) snprintf(buf, n, "[%lld]", (long long)ne[0]);
    else snprintf(buf, n, "[%lld, %lld]", (long long)ne[0], (long long)ne[1]);
}

static void on_progress(void *ctx, const gf_convert_event *ev) {
    progress_ctx *pc = ctx;
    if (!ev->done) return;
    int layer, k = ev->n_dims == 2 ? gf_report_kind(ev->name, &layer) : -1;
    if (k >= 0) { /* (the type and method of the kind's last matrix: they agree unless --tensor-type) */
        pc->n_kind[k]++;
        pc->kind_w[k] += ev->w_rel;
        pc->kind_s[k] += ev->seconds;
        pc->kind_type[k] = gf_type_info(ev->type)->name;
        pc->kind_method[k] = ev->method;
        if (ev->act_rel >= 0) pc->n_kind_act[k]++, pc->kind_act[k] += ev->act_rel;
    }
    if (pc->report) {
        cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", ev->name);
        cJSON_AddStringToObject(o, "hf_name", ev->hf_name);
        for (int d = 0; d < ev->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ev->ne[d]));
        cJSON_AddItemToObject(o, "shape", sh);
        cJSON_AddStringToObject(o, "type", gf_type_info(ev->type)->name);
        cJSON_AddStringToObject(o, "method", ev->n_dims == 2 ? ev->method : "none");
        cJSON_AddNumberToObject(o, "weight_mse", ev->w_mse);
        cJSON_AddNumberToObject(o, "weight_rel_error", ev->w_rel);
        if (ev->act_rel >= 0) cJSON_AddNumberToObject(o, "output_rel_error", ev->act_rel);
        else cJSON_AddNullToObject(o, "output_rel_error"); /* a 1-D tensor, or no calibration */
        cJSON_AddNumberToObject(o, "bytes", (double)ev->nbytes);
        cJSON_AddNumberToObject(o, "seconds", ev->seconds);
        if (ev->note) cJSON_AddStringToObject(o, "note", ev->note);
        cJSON_AddItemToArray(pc->report, o);
    }
    if (pc->quiet) return;
    char shape[64];
    fmt_shape(shape, sizeof shape, ev->n_dims, ev->ne);
    char act[32] = "";
    if (ev->act_rel >= 0) snprintf(act, sizeof act, "  out.err %.2e", ev->act_rel);
    fprintf(stderr, "[%4d/%4d] %-28s %-14s %4s -> %-4s %-7s %9.3f MB  rel.err %.2e%s %7.3f s\n", ev->index, ev->count,
            ev->name, shape, gf_type_info(ev->src_type)->name, gf_type_info(ev->type)->name,
            ev->n_dims == 2 ? ev->method : "", (double)ev->nbytes / 1e6, ev->w_rel, act, ev->seconds);
    if (ev->note) fprintf(stderr, "           note: %s: %s\n", ev->name, ev->note);
}

static int parse_method(const char *opt, const char *v, const gf_qmethod **out) {
    *out = gf_qmethod_find(v);
    if (!*out) {
        fprintf(stderr, "gguf-forge quantize: %s: unknown method '%s' (gguf-forge quantize --list)\n", opt, v);
        return -1;
    }
    return 0;
}


static void list_methods(void) {
    printf("quantization methods (--blocks, --embed, --output):\n");
    for (int i = 0; gf_qmethod_at(i); i++) {
        const gf_qmethod *m = gf_qmethod_at(i), *e = NULL, *out = NULL, *ue = NULL, *uo = NULL;
        printf("  %-13s %s\n", m->name, m->help);
        if (gf_qmethod_heads(m, 1, &e, &out) && gf_qmethod_heads(m, 0, &ue, &uo))
            printf("  %-13s as --blocks, by default --embed %s when tied (else %s), --output %s\n", "",
                   e ? e->name : "minmax", ue ? ue->name : "minmax", uo ? uo->name : "minmax");
    }
    printf("without a calibrating --blocks method, --embed and --output default to minmax\n");
}

/* Writes the report JSON next to nothing else: a small file, written whole. */
static int write_report(const char *path, cJSON *tensors, cJSON *blocks, const char *model, const char *out,
                        const gf_convert_opts *o, const gf_convert_summary *sum) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "gguf_forge", GF_VERSION);
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "output", out);
    cJSON_AddStringToObject(root, "type", gf_type_info(o->type)->name);
    cJSON_AddStringToObject(root, "blocks_method", (o->blocks ? o->blocks : gf_qmethod_default())->name);
    cJSON_AddStringToObject(root, "embed_method", sum->embed_method);
    cJSON_AddStringToObject(root, "output_method", sum->output_method);
    if (o->imatrix_name) cJSON_AddStringToObject(root, "imatrix", o->imatrix_name);
    cJSON_AddNumberToObject(root, "parameters", (double)sum->n_params);
    cJSON_AddNumberToObject(root, "output_bytes", (double)sum->out_bytes);
    cJSON_AddNumberToObject(root, "seconds", sum->seconds);
    cJSON_AddItemReferenceToObject(root, "tensors", tensors);
    if (blocks && cJSON_GetArraySize(blocks)) cJSON_AddItemReferenceToObject(root, "blocks", blocks);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = text ? fopen(path, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    if (!ok) fprintf(stderr, "gguf-forge quantize: %s: cannot write the report\n", path);
    return ok ? 0 : -1;
}

static void on_calib_progress(void *ctx, int layer, int n_layers) {
    const progress_ctx *pc = ctx;
    if (!pc->quiet) fprintf(stderr, "calibration: block %d/%d\r%s", layer + 1, n_layers, layer + 1 == n_layers ? "\n" : "");
}

static void on_block_progress(void *ctx, const gf_block_event *ev) {
    progress_ctx *pc = ctx;
    pc->blocks_done = ev->layer + 1;
    pc->n_layers = ev->n_layers;
    pc->block_seconds += ev->seconds;
    if (ev->ar) pc->ar_blocks++, pc->ar_seconds += ev->seconds, pc->ar_gflop += ev->ar->gflop;
    if (pc->report_blocks) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddNumberToObject(b, "layer", ev->layer);
        cJSON_AddStringToObject(b, "method", ev->method);
        cJSON_AddNumberToObject(b, "seconds", ev->seconds);
        if (ev->awq) {
            cJSON *a = cJSON_CreateArray();
            for (int g = 0; g < 4; g++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ev->awq->alpha[g]));
            cJSON_AddItemToObject(b, "awq_alpha", a);
        }
        if (ev->ar) {
            cJSON_AddNumberToObject(b, "loss_minmax", ev->ar->loss_minmax);
            cJSON_AddNumberToObject(b, "loss_tuned", ev->ar->loss_best);
            cJSON_AddNumberToObject(b, "best_iter", ev->ar->best_iter);
            cJSON_AddNumberToObject(b, "gflop", ev->ar->gflop);
            if (gf_ar_gradient_sum()) { /* the MPI build's exact sums: the same for any number of ranks */
                char hex[17];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ev->ar->grad_check);
                cJSON_AddStringToObject(b, "grad_check", hex);
            }
        }
        cJSON_AddItemToArray(pc->report_blocks, b);
    }
    if (pc->quiet || ev->saved) return; /* a saved block's line was printed by the run that tuned it */
    fprintf(stderr, "%s: block %d/%d, %.1f s:", ev->method, ev->layer + 1, ev->n_layers, ev->seconds);
    static const char *groups[4] = {"q/k/v", "o", "gate/up", "down"};
    for (int g = 0; ev->awq && g < 4; g++) {
        if (ev->awq->alpha[g] == -2) continue;
        if (ev->awq->alpha[g] < 0) fprintf(stderr, " %s a=none", groups[g]);
        else fprintf(stderr, " %s a=%.2f", groups[g], ev->awq->alpha[g]);
    }
    if (ev->ar)
        fprintf(stderr, " loss min-max %.4g -> tuned %.4g (x%.3f, best iteration %d)", ev->ar->loss_minmax,
                ev->ar->loss_best, ev->ar->loss_minmax > 0 ? ev->ar->loss_best / ev->ar->loss_minmax : 1.0,
                ev->ar->best_iter);
    if (ev->layer + 1 < ev->n_layers)
        fprintf(stderr, ", ETA %.0f s", pc->block_seconds / pc->blocks_done * (ev->n_layers - pc->blocks_done));
    fputc('\n', stderr);
}

/* GF_TEST_KILL_RANK=R[:L] (tests/test_mpi.sh): MPI rank R dies (SIGKILL) at its first AutoRound
 * progress call (of block L, 0-based, when given), as a lost machine would. */
static void on_ar_progress(void *ctx, int layer, int iter, int iters, double loss, double best, double elapsed) {
    const progress_ctx *pc = ctx;
    const char *kill_rank = getenv("GF_TEST_KILL_RANK"), *at = kill_rank ? strchr(kill_rank, ':') : NULL;
    if (kill_rank && *kill_rank && pc->ranks > 1 && atoi(kill_rank) == pc->rank && (!at || atoi(at + 1) == layer))
        raise(SIGKILL);
    if (pc->quiet) return;
    double per_block = pc->blocks_done ? pc->block_seconds / pc->blocks_done : 0;
    double left = iter > 0 ? elapsed / iter * (iters - iter) : 0; /* of this block */
    fprintf(stderr, "autoround: block %d iter %d/%d loss %.4g best %.4g, %.0f s in this block", layer + 1, iter, iters,
            loss, best, elapsed);
    if (per_block > 0 && pc->n_layers > layer)
        fprintf(stderr, ", about %.0f s per block, ETA %.0f s", per_block, left + per_block * (pc->n_layers - layer - 1));
    else if (iter > 0)
        fprintf(stderr, ", block ETA %.0f s", left);
    fputc(isatty(2) ? '\r' : '\n', stderr);
}

/* --checkpoint: a resumed run says so (even with -q: it explains a fast start), a saved
 * block is one line.  GF_TEST_STOP_AFTER_BLOCK=K (tests/test_checkpoint.sh) kills the
 * process with SIGKILL right after the checkpoint of block K (0-based) is saved, as a
 * kill -9 would. */
static void on_checkpoint(void *ctx, const char *dir, int n_done, int resumed) {
    const progress_ctx *pc = ctx;
    if (resumed && !pc->rank) fprintf(stderr, "resuming from checkpoint %s: blocks 0..%d done\n", dir, n_done - 1);
    else if (!resumed && !pc->quiet) fprintf(stderr, "checkpoint %s: blocks 0..%d saved\n", dir, n_done - 1);
    const char *stop = getenv("GF_TEST_STOP_AFTER_BLOCK");
    if (!resumed && stop && *stop && atoi(stop) == n_done - 1) raise(SIGKILL);
}

static int parse_type(const char *opt, const char *v, gf_type *out) {
    int t = v ? gf_type_from_name(v) : -1;
    if (t < 0 || !gf_type_can_write((gf_type)t)) {
        char list[256];
        fprintf(stderr, "gguf-forge quantize: %s: '%s' is not one of %s\n", opt, v ? v : "",
                gf_type_list(gf_type_can_write, list, sizeof list));
        return -1;
    }
    *out = (gf_type)t;
    return 0;
}

/* ---------------------------------------------------------------- options */

/* What the command line says, before anything is loaded. */
typedef struct {
    const char *model, *out, *report_path, *imatrix_path, *calib_path;
    const char *recipe;
    int ar_iters, have_nsamples, have_seqlen; /* ar_iters < 0: the recipe's */
    int fp_inputs;                            /* --fp-inputs                 */
    int64_t ar_batch;                         /* 0: the recipe's             */
    double ar_lr;                             /* 0: auto                     */
    int ar_start;                             /* --init: GF_AR_START_*; < 0: the recipe's */
    gf_calib_opts copts;
    int force, quiet, threads;
    gf_type_rule rules[MAX_RULES];
    char *rule_buf[MAX_RULES];
    int n_rules;
    gf_lora_spec lora[MAX_LORA];
    int n_lora;
    gf_convert_opts o;
} qargs;

/* An option's action: 0 parsed, -1 bad (message printed), 1 done (exit 0).
 * opt: the spelling used; v: its value (NULL for a flag). */
typedef int (*opt_fn)(qargs *q, const char *opt, const char *v);

static int opt_help(qargs *q, const char *opt, const char *v) {
    help(stdout);
    return 1;
}
static int opt_list(qargs *q, const char *opt, const char *v) {
    list_methods();
    return 1;
}
static int opt_out(qargs *q, const char *opt, const char *v) { return q->out = v, 0; }
static int opt_imatrix(qargs *q, const char *opt, const char *v) { return q->imatrix_path = v, 0; }
static int opt_lora(qargs *q, const char *opt, const char *v) {
    if (q->n_lora == MAX_LORA) {
        fprintf(stderr, "gguf-forge quantize: at most %d --lora adapters\n", MAX_LORA);
        return -1;
    }
    q->lora[q->n_lora++] = (gf_lora_spec){.dir = v, .scale = 1.0};
    q->o.lora = q->lora, q->o.n_lora = q->n_lora;
    return 0;
}
static int opt_lora_scale(qargs *q, const char *opt, const char *v) {
    char *end;
    double x = strtod(v, &end);
    if (!q->n_lora || *end || !*v || !isfinite(x)) {
        fprintf(stderr, "gguf-forge quantize: --lora-scale wants a finite number after a --lora, got '%s'\n", v);
        return -1;
    }
    q->lora[q->n_lora - 1].scale = x;
    return 0;
}
static int opt_calib(qargs *q, const char *opt, const char *v) { return q->calib_path = v, 0; }
static int opt_recipe(qargs *q, const char *opt, const char *v) { return q->recipe = v, 0; }
static int opt_report(qargs *q, const char *opt, const char *v) { return q->report_path = v, 0; }
static int opt_name(qargs *q, const char *opt, const char *v) { return q->o.name = v, 0; }
static int opt_pure(qargs *q, const char *opt, const char *v) { return q->o.pure = 1, 0; }
static int opt_vocab_only(qargs *q, const char *opt, const char *v) { return q->o.vocab_only = 1, 0; }
static int opt_force(qargs *q, const char *opt, const char *v) { return q->force = 1, 0; }
static int opt_quiet(qargs *q, const char *opt, const char *v) { return q->quiet = 1, 0; }
static int opt_type(qargs *q, const char *opt, const char *v) { return parse_type(opt, v, &q->o.type); }
static int opt_embed_type(qargs *q, const char *opt, const char *v) {
    gf_type t;
    if (parse_type(opt, v, &t)) return -1;
    q->o.embed_type = (int)t;
    return 0;
}
static int opt_output_type(qargs *q, const char *opt, const char *v) {
    gf_type t;
    if (parse_type(opt, v, &t)) return -1;
    q->o.output_type = (int)t;
    return 0;
}
static int opt_tensor_type(qargs *q, const char *opt, const char *v) {
    const char *eq = strrchr(v, '=');
    if (!eq || eq == v || q->n_rules == MAX_RULES) {
        fprintf(stderr, "gguf-forge quantize: --tensor-type wants REGEX=TYPE (at most %d), got '%s'\n", MAX_RULES, v);
        return -1;
    }
    if (parse_type(opt, eq + 1, &q->rules[q->n_rules].type)) return -1;
    q->rule_buf[q->n_rules] = strndup(v, (size_t)(eq - v));
    q->rules[q->n_rules].regex = q->rule_buf[q->n_rules];
    q->n_rules++;
    return 0;
}
static int opt_blocks(qargs *q, const char *opt, const char *v) { return parse_method(opt, v, &q->o.blocks); }
static int opt_embed(qargs *q, const char *opt, const char *v) { return parse_method(opt, v, &q->o.embed); }
static int opt_output(qargs *q, const char *opt, const char *v) {
    if (!gf_qmethod_find(v) && strstr(v, ".gguf")) {
        fprintf(stderr, "gguf-forge quantize: --output names the output head's method; the output file is -o %s\n", v);
        return -1;
    }
    return parse_method(opt, v, &q->o.output);
}
static int opt_nsamples(qargs *q, const char *opt, const char *v) {
    long n;
    if (gf_cli_int("quantize", opt, v, 1, 1 << 20, &n)) return -1;
    q->copts.nsamples = n, q->have_nsamples = 1;
    return 0;
}
static int opt_seqlen(qargs *q, const char *opt, const char *v) {
    long n;
    if (gf_cli_int("quantize", opt, v, 1, 1 << 20, &n)) return -1;
    q->copts.seqlen = n, q->have_seqlen = 1;
    return 0;
}
static int opt_seed(qargs *q, const char *opt, const char *v) {
    long n;
    if (gf_cli_int("quantize", opt, v, 0, 1 << 20, &n)) return -1;
    q->copts.seed = (uint64_t)n;
    return 0;
}
static int opt_iters(qargs *q, const char *opt, const char *v) {
    long n;
    if (gf_cli_int("quantize", opt, v, 0, 1000000, &n)) return -1;
    q->ar_iters = (int)n;
    return 0;
}
static int opt_batch(qargs *q, const char *opt, const char *v) {
    long n;
    if (gf_cli_int("quantize", opt, v, 1, 1000000, &n)) return -1;
    q->ar_batch = n;
    return 0;
}
static int opt_lr(qargs *q, const char *opt, const char *v) {
    char *end;
    q->ar_lr = strcmp(v, "auto") ? strtod(v, &end) : 0;
    if (strcmp(v, "auto") && (*end || !(q->ar_lr > 0) || q->ar_lr > 10)) {
        fprintf(stderr, "gguf-forge quantize: --lr: '%s' is not auto or a positive number\n", v);
        return -1;
    }
    return 0;
}
static int opt_init(qargs *q, const char *opt, const char *v) {
    for (int i = 0; i < GF_AR_START_COUNT_; i++)
        if (!strcmp(v, gf_ar_starts[i])) return q->ar_start = i, 0;
    fprintf(stderr, "gguf-forge quantize: %s: '%s' is not minmax or imatrix\n", opt, v);
    return -1;
}
static int opt_fp_inputs(qargs *q, const char *opt, const char *v) { return q->fp_inputs = 1, 0; }
static int opt_checkpoint(qargs *q, const char *opt, const char *v) { return q->o.checkpoint = v, 0; }
static int opt_threads(qargs *q, const char *opt, const char *v) {
    long n;
    if (gf_cli_int("quantize", opt, v, 1, 1024, &n)) return -1;
    q->threads = (int)n;
    return 0;
}

/* Every option of `quantize` (help() describes them). */
static const struct {
    const char *name, *alias; /* spellings; alias may be NULL */
    int value;                /* takes the next argument      */
    opt_fn fn;
} options[] = {
    {"-h", "--help", 0, opt_help},
    {"-o", "--outfile", 1, opt_out},
    {"--type", NULL, 1, opt_type},
    {"--embed-type", "--token-embedding-type", 1, opt_embed_type},
    {"--output-type", "--output-tensor-type", 1, opt_output_type},
    {"--tensor-type", NULL, 1, opt_tensor_type},
    {"--blocks", NULL, 1, opt_blocks},
    {"--embed", NULL, 1, opt_embed},
    {"--output", NULL, 1, opt_output},
    {"--imatrix", NULL, 1, opt_imatrix},
    {"--lora", NULL, 1, opt_lora},
    {"--lora-scale", NULL, 1, opt_lora_scale},
    {"--calib", NULL, 1, opt_calib},
    {"--nsamples", NULL, 1, opt_nsamples},
    {"--seqlen", NULL, 1, opt_seqlen},
    {"--seed", NULL, 1, opt_seed},
    {"--recipe", NULL, 1, opt_recipe},
    {"--iters", NULL, 1, opt_iters},
    {"--batch", NULL, 1, opt_batch},
    {"--lr", NULL, 1, opt_lr},
    {"--init", NULL, 1, opt_init},
    {"--fp-inputs", NULL, 0, opt_fp_inputs},
    {"--checkpoint", NULL, 1, opt_checkpoint},
    {"--report", NULL, 1, opt_report},
    {"--list", NULL, 0, opt_list},
    {"--pure", NULL, 0, opt_pure},
    {"--vocab-only", NULL, 0, opt_vocab_only},
    {"--name", NULL, 1, opt_name},
    {"-t", "--threads", 1, opt_threads},
    {"--force", NULL, 0, opt_force},
    {"-q", "--quiet", 0, opt_quiet},
};

/* The command line into q: 0 go on, 1 done (exit 0), -1 usage error (printed). */
static int parse_args(qargs *q, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0, n_opt = sizeof options / sizeof options[0];
        while (k < n_opt && strcmp(a, options[k].name) && !(options[k].alias && !strcmp(a, options[k].alias))) k++;
        if (k < n_opt) {
            const char *v = NULL;
            if (options[k].value) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "gguf-forge quantize: %s needs a value\n", a);
                    return -1;
                }
                v = argv[++i];
            }
            int r = options[k].fn(q, a, v);
            if (r) return r;
        } else if (a[0] == '-') {
            fprintf(stderr, "gguf-forge quantize: unknown option '%s'\n", a);
            return -1;
        } else if (!q->model) {
            q->model = a;
        } else {
            fprintf(stderr, "gguf-forge quantize: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    if (!q->model || !q->out) {
        fprintf(stderr, "gguf-forge quantize: %s\n", !q->model ? "MODEL_DIR is missing" : "-o OUT.gguf is missing");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the command */

/* The files the options name (--imatrix, --calib): 0, or the exit code (printed). */
static int load_inputs(qargs *q, gf_imatrix **imatrix, char **calib_text) {
    gf_err err = {0};
    gf_status st;
    if (q->imatrix_path) {
        if ((st = gf_imatrix_load(q->imatrix_path, imatrix, &err))) goto fail;
        q->o.imatrix = *imatrix;
        q->o.imatrix_name = q->imatrix_path;
    }
    if (q->calib_path) {
        size_t clen = 0;
        if ((st = gf_read_text(q->calib_path, (size_t)1 << 30, calib_text, &clen, &err))) goto fail;
        q->copts.text = *calib_text;
        q->copts.text_len = clen;
        q->copts.name = q->calib_path;
    }
    return 0;
fail:
    fprintf(stderr, "gguf-forge quantize: %s\n", err.msg);
    return gf_exit_code(st);
}


/* Under MPI (more than one rank): how every minibatch of `batch` samples is shared
 * ("autoround: 3 ranks, samples split 2+3+3", the ranks' contiguous positions), or
 * with --fp-inputs which blocks each rank tunes. */
static void print_split(int64_t batch, int fp_inputs) {
    const int n = gf_dist_size();
    if (n < 2) return;
    if (fp_inputs) {
        fprintf(stderr, "autoround: %d ranks, whole blocks (--fp-inputs): rank r tunes blocks r, r+%d, ... "
                        "alone; rank 0 writes the output\n", n, n);
        return;
    }
    fprintf(stderr, "autoround: %d ranks, samples split ", n);
    for (int r = 0; r < n; r++) {
        int64_t lo, hi;
        gf_dist_split(batch, r, n, &lo, &hi);
        fprintf(stderr, "%s%lld", r ? "+" : "", (long long)(hi - lo));
    }
    fprintf(stderr, " (each minibatch; rank 0 writes the output)\n");
}

/* What the methods' table entries ask of the options: a head method that can do
 * blocks only is refused; a tuning method gets the recipe's settings (those the
 * command line did not give).  0, or -1 (usage error, printed). */
static int apply_methods(qargs *q, gf_ar_opts *ar) {
    gf_convert_opts *o = &q->o;
    for (int i = 0; i < 2; i++) { /* the heads are single matrices: no block transform there */
        const gf_qmethod *hm = i ? o->output : o->embed;
        if (hm && hm->blocks_only) {
            char alt[256];
            method_list(chooses_heads, alt, sizeof alt);
            fprintf(stderr, "gguf-forge quantize: %s %s: %s; use %s for the %s\n", i ? "--output" : "--embed", hm->name,
                    hm->blocks_only, alt, i ? "output head" : "embedding");
            return -1;
        }
    }
    if (q->fp_inputs && !(o->blocks && o->blocks->needs_qpath)) {
        char alt[128];
        method_list(tunes_on_qpath, alt, sizeof alt);
        fprintf(stderr, "gguf-forge quantize: --fp-inputs: --blocks %s does not tune blocks on the quantized path's "
                        "inputs; --fp-inputs applies to --blocks %s\n", (o->blocks ? o->blocks : gf_qmethod_default())->name, alt);
        return -1;
    }
    int tunes = 0, calibrates = 0;
    const gf_qmethod *ms[3] = {o->blocks, o->embed, o->output};
    for (int i = 0; i < 3; i++) {
        tunes |= ms[i] && ms[i]->tunes;
        calibrates |= gf_qmethod_calibrates(ms[i], o->imatrix != NULL);
    }
    /* the output-activation error needs calibration: measured when the text was given
     * or a method calibrates anyway */
    if (q->report_path || !q->quiet) o->act_error = q->calib_path || calibrates;
    if (!tunes) return 0;
    const gf_ar_recipe *rcp = gf_ar_recipe_find(q->recipe);
    if (!rcp) {
        fprintf(stderr, "gguf-forge quantize: --recipe: '%s' is not light, default or best\n", q->recipe);
        return -1;
    }
    gf_ar_opts_from_recipe(ar, rcp);
    if (q->ar_iters >= 0) ar->iters = q->ar_iters;
    if (q->ar_batch > 0) ar->batch = q->ar_batch;
    ar->lr = q->ar_lr;
    ar->seed = q->copts.seed;
    if (q->ar_start >= 0) ar->start = q->ar_start;
    ar->fp_inputs = q->fp_inputs;
    if (!q->have_nsamples) q->copts.nsamples = rcp->nsamples;
    if (!q->have_seqlen) q->copts.seqlen = rcp->seqlen;
    o->autoround = ar;
    o->ar_recipe = q->recipe;
    if (!q->quiet && gf_dist_rank() == 0) {
        const int64_t ns = q->copts.nsamples;
        fprintf(stderr, "autoround: recipe %s, %d iterations, %lld x %lld tokens, batch %lld, lr ", q->recipe, ar->iters,
                (long long)ns, (long long)q->copts.seqlen, (long long)(ar->batch > 0 ? ar->batch : ns < 8 ? ns : 8));
        if (ar->lr > 0) fprintf(stderr, "%g", ar->lr);
        else fprintf(stderr, "1/iterations");
        fprintf(stderr, ", seed %llu, start %s%s\n", (unsigned long long)ar->seed, gf_ar_starts[ar->start],
                ar->fp_inputs ? ", float inputs" : "");
        print_split(ar->batch > 0 ? ar->batch : ns < 8 ? ns : 8, ar->fp_inputs);
    }
    return 0;
}

/* The closing lines after a successful conversion. */
static void print_summary(const qargs *q, const progress_ctx *pc, const gf_convert_summary *sum) {
    if (q->o.vocab_only) {
        fprintf(stderr, "wrote %s: vocabulary and metadata only, %.2f MB\n", q->out, (double)sum->out_bytes / 1e6);
        return;
    }
    if (!q->quiet) print_kinds(pc);
    double bpw = sum->n_quant_params ? 8.0 * (double)sum->quant_bytes / (double)sum->n_quant_params : 0;
    fprintf(stderr,
            "wrote %s: %d tensors, %.2f M parameters, %.2f MB in -> %.2f MB out, %.3f bits per weight "
            "(2-D weights), %.2f s (%.0f MB/s read)\n",
            q->out, sum->n_tensors, (double)sum->n_params / 1e6, (double)sum->in_bytes / 1e6, (double)sum->out_bytes / 1e6,
            bpw, sum->seconds, sum->seconds > 0 ? (double)sum->in_bytes / 1e6 / sum->seconds : 0);
    if (pc->ar_blocks)
        fprintf(stderr, "autoround: %d blocks in %.1f s (%.1f s per block), %.0f GFLOP of forward/backward passes, %.1f GFLOP/s\n",
                pc->ar_blocks, pc->ar_seconds, pc->ar_seconds / pc->ar_blocks, pc->ar_gflop,
                pc->ar_seconds > 0 ? pc->ar_gflop / pc->ar_seconds : 0);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) fprintf(stderr, "peak resident memory: %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    if (sum->n_fallback)
        fprintf(stderr, "note: %d tensor%s written as f16 because their rows are not a multiple of 32 (see above)\n",
                sum->n_fallback, sum->n_fallback > 1 ? "s" : "");
}

/* A line the converter wants read before the run (even with --quiet: it says what
 * the result is measured against). */
static void on_notice(void *ctx, const char *text) {
    if (((const progress_ctx *)ctx)->rank) return;
    fprintf(stderr, "note: %s\n", text);
}

/* The sink of the ranks other than 0 under MPI: the bytes are rank 0's to write. */
static gf_status discard(void *ctx, const void *buf, size_t n, gf_err *err) {
    (void)ctx, (void)buf, (void)n, (void)err;
    return GF_OK;
}

/* Converts into the temporary output, then commits or removes it: 0 or the exit code (printed). */
static int run(qargs *q, progress_ctx *pc, gf_convert_summary *sum) {
    gf_err err = {0};
    gf_outfile *f = NULL;
    const int writer = gf_dist_rank() == 0; /* under MPI the other ranks compute the same and write nothing */
    gf_status st = writer ? gf_cli_output_open(q->out, q->force, &f, &err) : GF_OK;
    if (!st) {
        gf_sink sink = {writer ? gf_outfile_write : discard, f};
        q->o.progress = on_progress;
        q->o.notice = on_notice;
        q->o.progress_ctx = pc;
        if (!q->quiet && writer)
            fprintf(stderr, "gguf-forge %s: %s -> %s (%s, %d threads)\n", GF_VERSION, q->model, q->out,
                    gf_type_info(q->o.type)->name, omp_get_max_threads());
        st = gf_convert(q->model, &sink, &q->o, sum, &err);
        if (writer && !st) st = gf_outfile_commit(f, &err); /* frees f */
        else if (writer) gf_outfile_abort(f);
        gf_cli_output_closed();
    }
    if (!st) return 0;
    if (gf_dist_size() > 1) fprintf(stderr, "gguf-forge quantize (rank %d): %s\n", gf_dist_rank(), err.msg);
    else fprintf(stderr, "gguf-forge quantize: %s\n", err.msg);
    return gf_exit_code(st);
}

int gf_cmd_quantize(int argc, char **argv) {
    qargs q = {.recipe = "default", .ar_iters = -1, .ar_start = -1,
               .copts = {.nsamples = 128, .seqlen = 512, .seed = 0, .name = "built-in calibration text"},
               .o = {.type = GF_TYPE_Q8_0, .embed_type = -1, .output_type = -1}};
    gf_ar_opts ar = {0};
    gf_imatrix *imatrix = NULL;
    char *calib_text = NULL;
    cJSON *report = NULL, *report_blocks = NULL;
    int rc = parse_args(&q, argc, argv);
    if (rc) {
        rc = rc > 0 ? GF_EXIT_OK : GF_EXIT_USAGE;
        if (rc) goto usage_err;
        goto cleanup;
    }
    q.o.rules = q.rules;
    q.o.n_rules = q.n_rules;
    if ((rc = load_inputs(&q, &imatrix, &calib_text))) goto cleanup;
    q.o.calib = &q.copts;
    q.o.calib_progress = on_calib_progress;
    q.o.measure = !q.quiet || q.report_path != NULL; /* the error is shown in the progress lines and the report */
    q.o.block_progress = on_block_progress;
    q.o.ar_progress = on_ar_progress;
    q.o.checkpoint_event = on_checkpoint;
    if (apply_methods(&q, &ar)) goto usage_err;
    if (q.report_path && gf_dist_rank() == 0) report = cJSON_CreateArray(), report_blocks = cJSON_CreateArray();
    if (q.threads) omp_set_num_threads(q.threads);

    const int rank = gf_dist_rank(); /* under MPI only rank 0 prints progress */
    progress_ctx pc = {.quiet = q.quiet || rank, .rank = rank, .ranks = gf_dist_size(), .report = report,
                       .report_blocks = report_blocks};
    gf_convert_summary sum;
    if ((rc = run(&q, &pc, &sum))) goto cleanup;
    if (report && write_report(q.report_path, report, report_blocks, q.model, q.out, &q.o, &sum)) {
        rc = GF_EXIT_IO;
        goto cleanup;
    }
    if (!rank) print_summary(&q, &pc, &sum);
    rc = GF_EXIT_OK;
    goto cleanup;
usage_err:
    fprintf(stderr, "run 'gguf-forge quantize --help' for the options\n");
    rc = GF_EXIT_USAGE;
cleanup:
    for (int i = 0; i < q.n_rules; i++) free(q.rule_buf[i]);
    gf_imatrix_free(imatrix);
    free(calib_text);
    cJSON_Delete(report);
    cJSON_Delete(report_blocks);
    return rc;
}
