/*
 * tune.c - `gguf-forge tune MODEL.gguf --base F32.gguf -o OUT.gguf [...]`: the
 * end-to-end stage after a block-wise quantization (EfficientQAT's E2E-QP).
 * Every Q4_0/Q8_0 block matrix keeps its rounding; only the fp16 block scales
 * move, to lower the KL divergence from the float base model on calibration
 * text.  OUT is MODEL with the new scales: plain Q4_0/Q8_0 for llama.cpp.
 * Argument parsing and printing only: calib/e2e.c does the work.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../calib/e2e.h"
#include "../common/textfile.h"
#include "../engine/tokenizer.h"
#include "../formats/outfile.h"
#include "cli.h"

#define MAX_TEXT_BYTES ((size_t)1 << 30)

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge tune MODEL.gguf --base BASE.gguf -o OUT.gguf [options]\n\n"
               "Tunes the fp16 scale of every Q4_0/Q8_0 block of MODEL's block matrices, keeping its rounding,\n"
               "to lower the mean KL divergence of MODEL's next-token distributions from BASE's (the float\n"
               "model, e.g. `quantize --type f32`) on calibration text: the end-to-end stage after\n"
               "`quantize --blocks autoround`.  OUT is MODEL with the best step's scales, nothing else changed.\n\n"
               "options:\n"
               "  --base BASE.gguf     the float model MODEL was quantized from (required)\n"
               "  -o, --output OUT     output GGUF (required)\n"
               "  --calib FILE         calibration text (default: the built-in text)\n"
               "  --nsamples N         training samples (default 64; memory: samples x tokens x vocabulary floats)\n"
               "  --seqlen N           tokens per sample (default 256)\n"
               "  --val N              validation samples, the next N windows of the text: they pick the best\n"
               "                       step (default 8; 0: the training samples' loss picks it)\n"
               "  --steps N            Adam steps on the scales (default 4; 0 measures the loss only)\n"
               "  --lr X               Adam's step on log(scale) (default 0.0005)\n"
               "  --head               the output head's scales too (a tied embedding's with them)\n"
               "  --per-row            one factor per matrix row on the file's scales (default: one per block)\n"
               "  --seed N             sample draw (default 0)\n"
               "  -t, --threads N      threads (default: all cores)\n"
               "  --force              overwrite OUT\n");
}

static void on_step(void *ctx, int k, int steps, double loss, double val, int best) {
    const double *t0 = ctx;
    char v[64] = "";
    if (val == val) snprintf(v, sizeof v, "  validation %.6f", val);
    fprintf(stderr, "tune: step %2d/%d  KL %.6f%s%s  (%.1f s)\n", k, steps, loss, v, best ? "  best" : "",
            gf_time_now() - *t0);
}

typedef struct {
    const char *model, *base, *out, *calib;
    long nsamples, nval, seqlen, steps, seed, threads;
    double lr;
    int force, per_row, head;
} targs;

static int parse(int argc, char **argv, targs *a) {
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(x) (strcmp(s, x) == 0)
#define INT(lo, hi, dst) do { if (gf_cli_int("tune", s, v, lo, hi, dst)) return GF_EXIT_USAGE; i++; } while (0)
        if (OPT("-h") || OPT("--help")) { help(stdout); return -1; }
        else if (OPT("--base")) { if (!v) goto needv; a->base = v, i++; }
        else if (OPT("-o") || OPT("--output")) { if (!v) goto needv; a->out = v, i++; }
        else if (OPT("--calib")) { if (!v) goto needv; a->calib = v, i++; }
        else if (OPT("--nsamples")) INT(1, 1 << 16, &a->nsamples);
        else if (OPT("--seqlen")) INT(2, 1 << 16, &a->seqlen);
        else if (OPT("--val")) INT(0, 1 << 16, &a->nval);
        else if (OPT("--steps")) INT(0, 100000, &a->steps);
        else if (OPT("--seed")) INT(0, 1L << 30, &a->seed);
        else if (OPT("-t") || OPT("--threads")) INT(1, 1024, &a->threads);
        else if (OPT("--lr")) {
            char *end;
            a->lr = v ? strtod(v, &end) : 0;
            if (!v || *end || !(a->lr > 0 && a->lr <= 1)) {
                fprintf(stderr, "gguf-forge tune: --lr wants a number in (0, 1], got '%s'\n", v ? v : "");
                return GF_EXIT_USAGE;
            }
            i++;
        } else if (OPT("--force")) a->force = 1;
        else if (OPT("--per-row")) a->per_row = 1;
        else if (OPT("--head")) a->head = 1;
        else if (s[0] == '-') { fprintf(stderr, "gguf-forge tune: unknown option '%s'\n", s); help(stderr); return GF_EXIT_USAGE; }
        else if (!a->model) a->model = s;
        else { fprintf(stderr, "gguf-forge tune: unexpected argument '%s'\n", s); return GF_EXIT_USAGE; }
#undef OPT
#undef INT
        continue;
    needv:
        fprintf(stderr, "gguf-forge tune: %s needs a value\n", s);
        return GF_EXIT_USAGE;
    }
    if (!a->model || !a->base || !a->out) {
        fprintf(stderr, "gguf-forge tune: MODEL.gguf, --base and -o are required\n");
        help(stderr);
        return GF_EXIT_USAGE;
    }
    return 0;
}

int gf_cmd_tune(int argc, char **argv) {
    targs a = {.nsamples = 64, .nval = 8, .seqlen = 256, .steps = 4, .lr = 0.0005}; /* the best measured (README) */
    const int pr = parse(argc, argv, &a);
    if (pr) return pr < 0 ? GF_EXIT_OK : pr;
    if (a.threads > 0) omp_set_num_threads((int)a.threads);
    gf_err err = {0};
    gf_status st = GF_OK;
    gf_model *m = NULL, *base = NULL;
    gf_vocab *vocab = NULL;
    gf_tokenizer *tok = NULL;
    gf_e2e *t = NULL;
    gf_outfile *f = NULL;
    char *text = NULL;
    size_t text_len = 0;
    double t0 = gf_time_now();
    /* the output first, so that an existing file is refused before the work */
    if ((st = gf_cli_output_open(a.out, a.force, &f, &err))) goto done;
    if ((st = gf_cli_model_open("tune", a.model, &m, &err)) || (st = gf_cli_model_open("tune", a.base, &base, &err)))
        goto done;
    if ((st = gf_vocab_from_gguf(m->gguf, &vocab, &err)) || (st = gf_tokenizer_init(vocab, &tok, &err))) {
        gf_err_prefix(&err, "%s", a.model);
        goto done;
    }
    if (a.calib && (st = gf_read_text(a.calib, MAX_TEXT_BYTES, &text, &text_len, &err))) goto done;
    const gf_e2e_opts o = {.text = text, .text_len = text_len, .name = a.calib ? a.calib : "built-in text",
                           .nsamples = a.nsamples, .nval = a.nval, .seqlen = a.seqlen, .seed = (uint64_t)a.seed,
                           .steps = (int)a.steps, .lr = a.lr, .per_row = a.per_row, .head = a.head, .progress = on_step, .ctx = &t0};
    if ((st = gf_e2e_open(&t, m, base, tok, &o, &err))) goto done;
    gf_e2e_result r;
    if ((st = gf_e2e_run(t, &r, &err))) goto done;
    char v[96] = "";
    if (r.n_val) snprintf(v, sizeof v, ", validation %.6f -> %.6f on %lld samples", r.val_start, r.val_best,
                          (long long)r.n_val);
    fprintf(stderr, "tune: %lld matrices (%lld scales, %lld %s) tuned, %lld of other types kept; %lld samples x %lld "
            "tokens; KL %.6f -> %.6f%s (step %d of %d), %.1f s (base model %.1f s), %.0f MB held\n",
            (long long)r.n_matrices, (long long)r.n_scales, (long long)r.n_params, a.per_row ? "row factors" : "factors",
            (long long)r.n_fixed, (long long)r.n_samples,
            (long long)r.seqlen, r.loss_start, r.loss_best, v, r.best_step, (int)a.steps, gf_time_now() - t0,
            r.seconds_teacher, (double)r.bytes / 1e6);
    const gf_sink sink = {gf_outfile_write, f};
    if ((st = gf_e2e_write(t, m->gguf, m->gguf->map, m->gguf->map_size, &sink, &err))) goto done;
    st = gf_outfile_commit(f, &err); /* frees f */
    f = NULL;
    if (!st) fprintf(stderr, "wrote %s\n", a.out);
done:
    gf_outfile_abort(f);
    gf_cli_output_closed();
    if (st) fprintf(stderr, "gguf-forge tune: %s\n", err.msg);
    gf_e2e_free(t);
    free(text);
    gf_tokenizer_free(tok);
    gf_vocab_free(vocab);
    gf_model_free(base);
    gf_model_free(m);
    return gf_exit_code(st);
}
