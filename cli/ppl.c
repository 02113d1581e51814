/*
 * ppl.c - `gguf-forge ppl MODEL.gguf -f TEXT [...]`: perplexity with the bundled
 * engine, printed as llama-perplexity prints it ([1]12.3,[2]... then "Final
 * estimate: PPL = X +/- Y"), and with --kld-base the statistics of
 * `llama-perplexity --kl-divergence` in its line format, so that scripts written
 * for llama.cpp read ours.  Argument parsing and printing only: engine/ppl.c
 * does the work.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/textfile.h"
#include "../engine/ppl.h"
#include "../engine/tokenizer.h"
#include "../formats/vocab.h"
#include "cli.h"

#define MAX_TEXT_BYTES ((size_t)1 << 30)

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge ppl MODEL.gguf -f TEXT [options]\n\n"
               "Perplexity of MODEL on the text, as llama-perplexity computes it: windows of -c tokens, the\n"
               "second half of each scored, BOS first when the vocabulary adds it.\n\n"
               "options:\n"
               "  -f, --file TEXT      text file to evaluate (required; may be gzip-compressed)\n"
               "  -c, --ctx-size N     window length in tokens (default 512)\n"
               "  -b, --batch-size N   tokens per forward call (default 512, at most -c)\n"
               "  -t, --threads N      threads (default: all cores)\n"
               "      --chunks N       evaluate only the first N windows\n"
               "      --kld-base BASE  also run BASE.gguf on every window and report the KL divergence of\n"
               "                       MODEL from it, top-1 agreement and the PPL difference\n"
               "                       (what llama-perplexity --kl-divergence reports)\n"
               "      --kv-type T      KV cache f16 (default, as llama.cpp) or f32\n");
}

static void print_kld_row(const gf_ppl_report *r) {
    printf("%4lld", (long long)r->chunks_done);
    printf("    %9.4lf ± %9.4lf", r->ppl_q, r->ppl_q_err);
    printf("    %10.5lf ± %10.5lf", r->ln_ratio, r->ln_ratio_err);
    printf("    %10.5lf ± %10.5lf", r->kld, r->kld_err);
    printf("    %6.3lf ± %6.3lf %%", 100.0 * r->dp_rms, 100.0 * r->dp_rms_err);
    printf("    %6.3lf ± %6.3lf %%\n", 100.0 * r->same_top, 100.0 * r->same_top_err);
}

static void print_kld_summary(const gf_ppl_report *r) {
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6lf ± %10.6lf\n", r->ppl_q, r->ppl_q_err);
    printf("Mean PPL(base)                : %10.6lf ± %10.6lf\n", r->ppl_base, r->ppl_base_err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100.0 * r->cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf\n", r->ln_ratio, r->ln_ratio_err);
    printf("Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", r->ratio, r->ratio_err);
    printf("Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf\n", r->diff, r->diff_err);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6lf ± %10.6lf\n", r->kld, r->kld_err);
    printf("Maximum KLD: %10.6f\n", r->kld_max);
    printf("99.9%%   KLD: %10.6f\n", r->kld_p999);
    printf("99.0%%   KLD: %10.6f\n", r->kld_p99);
    printf("Median  KLD: %10.6f\n", r->kld_median);
    printf("10.0%%   KLD: %10.6f\n", r->kld_p10);
    printf(" 5.0%%   KLD: %10.6f\n", r->kld_p05);
    printf(" 1.0%%   KLD: %10.6f\n", r->kld_p01);
    printf("Minimum KLD: %10.6f\n", r->kld_min);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3lf ± %5.3lf %%\n", 100.0 * r->dp_mean, 100.0 * r->dp_mean_err);
    printf("Maximum Δp: %6.3lf%%\n", 100.0 * r->dp_max);
    printf("99.9%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p999);
    printf("99.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p99);
    printf("95.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p95);
    printf("90.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p90);
    printf("75.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p75);
    printf("Median  Δp: %6.3lf%%\n", 100.0 * r->dp_median);
    printf("25.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p25);
    printf("10.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p10);
    printf(" 5.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p05);
    printf(" 1.0%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p01);
    printf(" 0.1%%   Δp: %6.3lf%%\n", 100.0 * r->dp_p001);
    printf("Minimum Δp: %6.3lf%%\n", 100.0 * r->dp_min);
    printf("RMS Δp    : %6.3lf ± %5.3lf %%\n", 100.0 * r->dp_rms, 100.0 * r->dp_rms_err);
    printf("Same top p: %6.3lf ± %5.3lf %%\n", 100.0 * r->same_top, 100.0 * r->same_top_err);
}

int gf_cmd_ppl(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *base_path = NULL;
    long n_ctx = 512, n_batch = 512, threads = 0, n_chunks = -1;
    gf_type kv_type = GF_TYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { help(stdout); return GF_EXIT_OK; }
#define OPT(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
        if (OPT("-f", "--file")) { if (!v) goto needv; text_path = v; i++; }
        else if (OPT("-c", "--ctx-size")) { if (gf_cli_int("ppl", a, v, 4, 1 << 20, &n_ctx)) return GF_EXIT_USAGE; i++; }
        else if (OPT("-b", "--batch-size")) { if (gf_cli_int("ppl", a, v, 1, 1 << 20, &n_batch)) return GF_EXIT_USAGE; i++; }
        else if (OPT("-t", "--threads")) { if (gf_cli_int("ppl", a, v, 1, 1024, &threads)) return GF_EXIT_USAGE; i++; }
        else if (OPT("--chunks", "--chunks")) { if (gf_cli_int("ppl", a, v, 1, 1L << 30, &n_chunks)) return GF_EXIT_USAGE; i++; }
        else if (OPT("--kld-base", "--kl-divergence-base")) { if (!v) goto needv; base_path = v; i++; }
        else if (OPT("--kv-type", "--kv-type")) {
            if (v && strcmp(v, "f16") == 0) kv_type = GF_TYPE_F16;
            else if (v && strcmp(v, "f32") == 0) kv_type = GF_TYPE_F32;
            else { fprintf(stderr, "gguf-forge ppl: --kv-type wants f16 or f32\n"); return GF_EXIT_USAGE; }
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "gguf-forge ppl: unknown option '%s'\n", a);
            help(stderr);
            return GF_EXIT_USAGE;
        } else if (!model_path) model_path = a;
        else { fprintf(stderr, "gguf-forge ppl: unexpected argument '%s'\n", a); return GF_EXIT_USAGE; }
#undef OPT
        continue;
    needv:
        fprintf(stderr, "gguf-forge ppl: %s needs a value\n", a);
        return GF_EXIT_USAGE;
    }
    if (!model_path || !text_path) {
        fprintf(stderr, "gguf-forge ppl: a model and -f TEXT are required\n");
        help(stderr);
        return GF_EXIT_USAGE;
    }
    if (threads > 0) omp_set_num_threads((int)threads);

    gf_err err = {0};
    gf_status st = GF_OK;
    gf_model *m = NULL, *base = NULL;
    gf_vocab *vocab = NULL;
    gf_tokenizer *tok = NULL;
    gf_ppl *run = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t text_len = 0, n_ids = 0;
    const gf_kernel_set ks = gf_kernels_detect();

    if ((st = gf_cli_model_open("ppl", model_path, &m, &err))) goto done;
    if (base_path && (st = gf_cli_model_open("ppl", base_path, &base, &err))) goto done;
    if (m->hp.n_ctx_train && n_ctx > m->hp.n_ctx_train)
        fprintf(stderr, "gguf-forge ppl: warning: context %ld is longer than the model's training context %lld\n",
                n_ctx, (long long)m->hp.n_ctx_train);
    if ((st = gf_vocab_from_gguf(m->gguf, &vocab, &err)) || (st = gf_tokenizer_init(vocab, &tok, &err))) {
        gf_err_prefix(&err, "%s", model_path);
        goto done;
    }
    if ((st = gf_read_text(text_path, MAX_TEXT_BYTES, &text, &text_len, &err))) goto done;
    fprintf(stderr, "ppl: tokenizing %s (%zu bytes)\n", text_path, text_len);
    /* as llama-perplexity: the vocabulary's BOS, no special-token parsing */
    if ((st = gf_tokenize(tok, text, text_len, 1, 0, &ids, &n_ids, &err))) goto done;

    gf_ppl_params p = {
        .n_ctx = n_ctx, .n_batch = n_batch < n_ctx ? n_batch : n_ctx, .n_chunks = n_chunks,
        .add_bos = gf_tokenizer_adds_bos(tok), .bos_id = gf_tokenizer_bos(tok), .kv_type = kv_type,
    };
    if ((st = gf_ppl_init(&run, m, base, ids, (int64_t)n_ids, &p, &err))) goto done;
    const int64_t n_chunk = gf_ppl_n_chunks(run);
    fprintf(stderr, "ppl: %zu tokens, %lld chunks of %ld, batch %lld, %d threads, kernels %s, KV cache %s%s%s\n",
            n_ids, (long long)n_chunk, n_ctx, (long long)p.n_batch, omp_get_max_threads(), gf_kernels_name(ks),
            kv_type == GF_TYPE_F16 ? "f16" : "f32", base ? ", KLD base " : "", base ? base_path : "");

    gf_ppl_report rep;
    const double t0 = gf_time_now();
    if (base)
        printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
               "Δp RMS            Same top p\n");
    for (int64_t i = 0; i < n_chunk; i++) {
        if ((st = gf_ppl_step(run, &err))) goto done;
        gf_ppl_summary(run, &rep, 0);
        if (i == 0) {
            const double dt = gf_time_now() - t0;
            fprintf(stderr, "ppl: %.2f seconds per pass - ETA %.2f minutes\n", dt, dt * (double)n_chunk / 60.0);
        }
        if (base) print_kld_row(&rep);
        else printf("[%lld]%.4lf,", (long long)i + 1, rep.ppl);
        fflush(stdout);
    }
    const double dt = gf_time_now() - t0;
    gf_ppl_summary(run, &rep, base != NULL);
    printf("\nFinal estimate: PPL = %.4lf +/- %.5lf\n", rep.ppl, rep.ppl_err);
    if (base) {
        if (rep.count >= 100) print_kld_summary(&rep);
        else printf("(fewer than 100 scored tokens: no KL divergence statistics)\n");
    }
    const double n_eval = (double)n_chunk * (double)n_ctx * (base ? 2.0 : 1.0);
    fprintf(stderr, "ppl: %.0f tokens evaluated in %.2f s, %.1f tokens/s\n", n_eval, dt, n_eval / dt);
    printf("tokens/s: %.1f\n", n_eval / dt);

done:
    if (st) fprintf(stderr, "gguf-forge ppl: %s\n", err.msg);
    gf_ppl_free(run);
    free(ids);
    free(text);
    gf_tokenizer_free(tok);
    gf_vocab_free(vocab);
    gf_model_free(base);
    gf_model_free(m);
    return gf_exit_code(st);
}
