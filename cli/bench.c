/*
 * bench.c - `gguf-forge bench MODEL.gguf [-p 512] [-n 128] [-r 3] [-t N]`: the
 * engine's speed measured as llama-bench measures it, so the two can be put side
 * by side: pp = a prompt of p tokens in one batch, logits for the last token only;
 * tg = n tokens decoded one at a time through the KV cache.  Token ids are
 * seeded pseudo-random (the content does not change the work).  Reports the mean
 * and standard deviation of tokens/s over r repetitions.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "../engine/forward.h"
#include "cli.h"

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge bench MODEL.gguf [-p 512] [-n 128] [-r 3] [-t N]\n\n"
               "Prompt processing (pp: P tokens in one batch, logits for the last) and text generation (tg: N\n"
               "tokens one by one) in tokens/s, mean and deviation over R runs, as llama-bench measures them.\n");
}

static void mean_sd(const double *x, int n, double *m, double *sd) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *m = s / n;
    for (int i = 0; i < n; i++) s2 += (x[i] - *m) * (x[i] - *m);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0;
}

int gf_cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    long p = 512, n = 128, r = 3, t = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return GF_EXIT_OK;
        } else if (!strcmp(a, "-p")) {
            if (gf_cli_int("bench", a, v, 0, 1 << 16, &p)) return GF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "-n")) {
            if (gf_cli_int("bench", a, v, 0, 1 << 16, &n)) return GF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "-r")) {
            if (gf_cli_int("bench", a, v, 1, 100, &r)) return GF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "-t")) {
            if (gf_cli_int("bench", a, v, 1, 1024, &t)) return GF_EXIT_USAGE;
            i++;
        } else if (a[0] != '-' && !path) {
            path = a;
        } else {
            help(stderr);
            return GF_EXIT_USAGE;
        }
    }
    if (!path || (p == 0 && n == 0)) {
        help(stderr);
        return GF_EXIT_USAGE;
    }
    if (t) omp_set_num_threads((int)t);
    gf_err err = {0};
    gf_model *m = NULL;
    gf_state s = {0};
    int32_t *tok = NULL;
    float *logits = NULL;
    double pp[100], tg[100];
    gf_status st = gf_cli_model_open("bench", path, &m, &err);
    if (st) goto done;
    int64_t ctx = p + n + 1, batch = p > 0 ? p : 1;
    if ((st = gf_state_init(&s, m, ctx, batch, GF_TYPE_F16, &err))) goto done;
    tok = malloc((size_t)ctx * sizeof *tok);
    logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    if (!tok || !logits) {
        st = gf_errf(&err, GF_E_NOMEM, "out of memory");
        goto done;
    }
    uint64_t seed = 1234567;
    for (int64_t i = 0; i < ctx; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((seed >> 33) % (uint64_t)m->hp.n_vocab);
    }
    /* one warm-up of each, as llama-bench does */
    for (long rep = -1; rep < r; rep++) {
        if (p > 0) {
            double t0 = gf_time_now();
            if ((st = gf_forward(m, &s, tok, p, 0, p - 1, logits, NULL, &err))) goto done;
            if (rep >= 0) pp[rep] = (double)p / (gf_time_now() - t0);
        }
        if (n > 0) {
            double t0 = gf_time_now();
            for (long i = 0; i < n; i++)
                if ((st = gf_forward(m, &s, tok + i, 1, i, 0, logits, NULL, &err))) goto done;
            if (rep >= 0) tg[rep] = (double)n / (gf_time_now() - t0);
        }
    }
    double mean, sd;
    printf("| model | threads | kernels | test | t/s |\n|---|---|---|---|---|\n");
    if (p > 0) {
        mean_sd(pp, (int)r, &mean, &sd);
        printf("| %s | %d | %s | pp%ld | %.2f ± %.2f |\n", path, omp_get_max_threads(), gf_kernels_name(m->ks), p, mean, sd);
    }
    if (n > 0) {
        mean_sd(tg, (int)r, &mean, &sd);
        printf("| %s | %d | %s | tg%ld | %.2f ± %.2f |\n", path, omp_get_max_threads(), gf_kernels_name(m->ks), n, mean, sd);
    }
done:
    if (st) fprintf(stderr, "gguf-forge bench: %s\n", err.msg);
    free(tok);
    free(logits);
    gf_state_free(&s);
    gf_model_free(m);
    return gf_exit_code(st);
}
