/*
 * run.c - `gguf-forge run MODEL.gguf -p PROMPT [-n N]`: greedy generation with
 * the bundled engine, a smoke test that a (quantized) model still speaks.
 * The prompt is tokenized as llama.cpp tokenizes prompts (special tokens
 * parsed), processed as one batch, then one token at a time through the KV
 * cache until N tokens or an end-of-generation token.  No sampling, no chat
 * template.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "../engine/forward.h"
#include "../engine/tokenizer.h"
#include "../formats/vocab.h"
#include "cli.h"

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge run MODEL.gguf -p PROMPT [options]\n\n"
               "Greedy generation (always the most likely token), printed as it is produced.\n\n"
               "options:\n"
               "  -p, --prompt TEXT    the prompt (required)\n"
               "  -n, --n-predict N    tokens to generate (default 64)\n"
               "  -c, --ctx-size N     context length (default: prompt + N)\n"
               "  -t, --threads N      threads (default: all cores)\n");
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

int gf_cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL;
    long n_predict = 64, n_ctx = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { help(stdout); return GF_EXIT_OK; }
#define OPT(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
        if (OPT("-p", "--prompt")) {
            if (!v) { fprintf(stderr, "gguf-forge run: %s needs a value\n", a); return GF_EXIT_USAGE; }
            prompt = v;
            i++;
        } else if (OPT("-n", "--n-predict")) { if (gf_cli_int("run", a, v, 0, 1 << 20, &n_predict)) return GF_EXIT_USAGE; i++; }
        else if (OPT("-c", "--ctx-size")) { if (gf_cli_int("run", a, v, 1, 1 << 20, &n_ctx)) return GF_EXIT_USAGE; i++; }
        else if (OPT("-t", "--threads")) { if (gf_cli_int("run", a, v, 1, 1024, &threads)) return GF_EXIT_USAGE; i++; }
        else if (a[0] == '-') {
            fprintf(stderr, "gguf-forge run: unknown option '%s'\n", a);
            help(stderr);
            return GF_EXIT_USAGE;
        } else if (!model_path) model_path = a;
        else { fprintf(stderr, "gguf-forge run: unexpected argument '%s'\n", a); return GF_EXIT_USAGE; }
#undef OPT
    }
    if (!model_path || !prompt) {
        fprintf(stderr, "gguf-forge run: a model and -p PROMPT are required\n");
        help(stderr);
        return GF_EXIT_USAGE;
    }
    if (threads > 0) omp_set_num_threads((int)threads);

    gf_err err = {0};
    gf_status st = GF_OK;
    gf_model *m = NULL;
    gf_vocab *vocab = NULL;
    gf_tokenizer *tok = NULL;
    gf_state s = {0};
    int32_t *ids = NULL;
    float *logits = NULL;
    size_t n_ids = 0;

    if ((st = gf_cli_model_open("run", model_path, &m, &err))) goto done;
    if ((st = gf_vocab_from_gguf(m->gguf, &vocab, &err)) || (st = gf_tokenizer_init(vocab, &tok, &err))) {
        gf_err_prefix(&err, "%s", model_path);
        goto done;
    }
    if ((st = gf_tokenize(tok, prompt, strlen(prompt), 1, 1, &ids, &n_ids, &err))) goto done;
    if (n_ids == 0) {
        st = gf_errf(&err, GF_E_USAGE, "the prompt is empty after tokenization");
        goto done;
    }
    if (n_ctx == 0) n_ctx = (long)n_ids + n_predict;
    if ((long)n_ids + n_predict > n_ctx) {
        st = gf_errf(&err, GF_E_USAGE, "%zu prompt tokens + %ld to generate do not fit a context of %ld", n_ids,
                     n_predict, n_ctx);
        goto done;
    }
    if ((st = gf_state_init(&s, m, n_ctx, 512, GF_TYPE_F16, &err))) goto done;
    logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    if (!logits) { st = gf_errf(&err, GF_E_NOMEM, "out of memory"); goto done; }

    for (size_t i = 0; i < n_ids; i++) {
        size_t len;
        const char *piece = gf_token_to_piece(tok, ids[i], 0, &len);
        if (piece) fwrite(piece, 1, len, stdout);
    }
    fflush(stdout);
    const double t0 = gf_time_now();
    if ((st = gf_forward(m, &s, ids, (int64_t)n_ids, 0, (int64_t)n_ids - 1, logits, NULL, &err))) goto done;
    const double t1 = gf_time_now();
    const int32_t eos = gf_tokenizer_eos(tok);
    long n_gen = 0;
    for (int64_t pos = (int64_t)n_ids; n_gen < n_predict; pos++) {
        int32_t next = argmax(logits, m->hp.n_vocab);
        if (next == eos) break;
        size_t len;
        const char *piece = gf_token_to_piece(tok, next, 0, &len);
        if (piece) fwrite(piece, 1, len, stdout);
        fflush(stdout);
        n_gen++;
        if (n_gen == n_predict) break;
        if ((st = gf_forward(m, &s, &next, 1, pos, 0, logits, NULL, &err))) goto done;
    }
    const double t2 = gf_time_now();
    printf("\n");
    fflush(stdout); /* the statistics (stderr) come after the text */
    fprintf(stderr, "run: prompt %zu tokens in %.3f s (%.1f t/s), generated %ld tokens in %.3f s (%.1f t/s), "
            "%d threads, kernels %s\n", n_ids, t1 - t0, (double)n_ids / (t1 - t0), n_gen, t2 - t1,
            n_gen > 0 ? (double)n_gen / (t2 - t1) : 0.0, omp_get_max_threads(), gf_kernels_name(m->output.ks));

done:
    if (st) fprintf(stderr, "gguf-forge run: %s\n", err.msg);
    free(logits);
    free(ids);
    gf_state_free(&s);
    gf_tokenizer_free(tok);
    gf_vocab_free(vocab);
    gf_model_free(m);
    return gf_exit_code(st);
}
