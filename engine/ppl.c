/*
 * ppl.c - perplexity and KL divergence over windows of a token sequence, with
 * llama-perplexity's conventions (examples/perplexity/perplexity.cpp, c392e50):
 * windows of n_ctx tokens, BOS in front when the vocabulary adds it, the second
 * half scored, the ± as the standard error of the mean NLL.
 *
 * For the KL divergence llama.cpp first saves the base model's log-probabilities
 * as 16-bit codes (a per-row scale and offset over the top 16 nats), then reads
 * them back; both its KLD and its PPL(base) see those codes.  We run the base
 * model side by side instead of through a file, but store its rows in the same
 * coded form so that the statistics are the same.  Does not print anything.
 */
#include "ppl.h"

#include <math.h>
#include <stdlib.h>

/* Log-probabilities more than this many nats below the top are not coded. */
#define BASE_RANGE 16.0f

/* One scored position: what the statistics are summed from. */
typedef struct {
    double nll;         /* -log p(token), double as llama-perplexity's plain mode */
    float nll_q;        /* the same in float, as its KLD mode computes it         */
    float nll_base;     /* from the coded base row                                */
    double kld;
    float p_diff;       /* p(token) - p_base(token)                               */
    int same_top;
} row_stat;

struct gf_ppl {
    const gf_model *m, *base;
    gf_ppl_params p;
    int32_t *tokens;         /* (n_tokens) */
    int64_t n_tokens, n_chunks, next;
    int64_t first, n_rows;   /* scored rows per window: n_ctx - 1 - first        */
    int64_t n_vocab;
    gf_state st, st_base;
    int32_t *win;            /* (n_ctx) the current window with BOS             */
    float *logits;           /* (n_ctx - first, V)                              */
    uint16_t *base_code;     /* (n_rows, V) coded base log-probabilities         */
    float *base_scale;       /* (n_rows)                                        */
    float *base_min;         /* (n_rows) log-probability of code 0               */
    row_stat *rows;          /* (n_rows)                                        */
    float *kld_values;       /* (n_chunks * n_rows)                             */
    float *p_diff_values;    /* (n_chunks * n_rows)                             */
    /* running sums, added in row order */
    double nll, nll2;
    int64_t count;
    double s_nll, s_nll2, s_nll_base, s_nll_base2, s_nll_nll_base, s_kld, s_kld2;
    double s_p_diff, s_p_diff2, s_p_diff4;
    int64_t n_same_top;
};

/* ---------------------------------------------------------------- rows */

/* Round to nearest, ties to even, as a float add of 1.5*2^23 does. */
static int round_even(float v) { return (int)lrintf(v); }

/* Codes a base row of logits: code i stands for log p_i = scale*code + min_lp. */
static void code_base_row(const float *logits, int64_t n_vocab, uint16_t *code, float *scale_out, float *min_out) {
    float mx = logits[0], mn = logits[0];
    for (int64_t i = 1; i < n_vocab; i++) {
        if (logits[i] > mx) mx = logits[i];
        if (logits[i] < mn) mn = logits[i];
    }
    if (mn < mx - BASE_RANGE) mn = mx - BASE_RANGE;
    double sum = 0.0;
    for (int64_t i = 0; i < n_vocab; i++) sum += expf(logits[i] - mx);
    const float lse = (float)log(sum);
    const float scale = (mx - mn) / 65535.0f;
    *scale_out = scale;
    *min_out = mn - mx - lse;
    if (scale == 0.0f) {
        memset(code, 0, (size_t)n_vocab * sizeof *code);
        return;
    }
    const float inv = 1.0f / scale;
    for (int64_t i = 0; i < n_vocab; i++) code[i] = logits[i] > mn ? (uint16_t)round_even(inv * (logits[i] - mn)) : 0;
}

/* The statistics of one position: logits of the model, the token that follows,
 * and (if any) the coded base row. */
static void score_row(const float *logits, int64_t n_vocab, int32_t tok, const uint16_t *code, float scale,
                      float min_lp, row_stat *r) {
    float mx = logits[0];
    int64_t imax = 0;
    for (int64_t i = 1; i < n_vocab; i++)
        if (logits[i] > mx) { mx = logits[i]; imax = i; }
    double sum = 0.0;
    for (int64_t i = 0; i < n_vocab; i++) sum += expf(logits[i] - mx);
    r->nll = -((double)(logits[tok] - mx) - log(sum));
    const float lse = (float)log(sum);
    r->nll_q = mx + lse - logits[tok];
    if (!code) return;

    r->nll_base = -(scale * code[tok] + min_lp);
    const float top = mx + lse; /* log p_i = logits[i] - top */
    double kld = 0.0;
    int64_t imax_base = 0;
    float lp_base_max = 0.0f;
    for (int64_t i = 0; i < n_vocab; i++) {
        const float lp_base = scale * code[i] + min_lp;
        if (i == 0 || lp_base > lp_base_max) { lp_base_max = lp_base; imax_base = i; }
        if (lp_base > -BASE_RANGE) {
            const float pb = expf(lp_base);
            kld += pb * (lp_base - logits[i] + top);
        }
    }
    r->kld = kld;
    r->same_top = imax == imax_base;
    r->p_diff = expf(-r->nll_q) - expf(-r->nll_base);
}

/* ---------------------------------------------------------------- lifecycle */

gf_status gf_ppl_init(gf_ppl **out, const gf_model *m, const gf_model *base, const int32_t *tokens,
                      int64_t n_tokens, const gf_ppl_params *p, gf_err *err) {
    gf_status st = GF_OK;
    *out = NULL;
    if (p->n_ctx < 4 || p->n_batch < 1)
        return gf_errf(err, GF_E_USAGE, "perplexity: context %lld and batch %lld are not valid (context >= 4)",
                       (long long)p->n_ctx, (long long)p->n_batch);
    if (n_tokens < 2 * p->n_ctx)
        return gf_errf(err, GF_E_VALUE, "perplexity: the text has %lld tokens; a context of %lld needs at least %lld",
                       (long long)n_tokens, (long long)p->n_ctx, (long long)(2 * p->n_ctx));
    if (base && base->hp.n_vocab != m->hp.n_vocab)
        return gf_errf(err, GF_E_VALUE, "KL divergence: %s has %lld tokens in its vocabulary, %s has %lld",
                       m->path, (long long)m->hp.n_vocab, base->path, (long long)base->hp.n_vocab);
    if (p->add_bos && (p->bos_id < 0 || p->bos_id >= m->hp.n_vocab))
        return gf_errf(err, GF_E_VALUE, "perplexity: BOS id %d is outside the vocabulary", p->bos_id);
    gf_ppl *r = calloc(1, sizeof *r);
    if (!r) return gf_errf(err, GF_E_NOMEM, "perplexity: out of memory");
    r->m = m;
    r->base = base;
    r->p = *p;
    r->n_tokens = n_tokens;
    r->n_chunks = n_tokens / p->n_ctx;
    if (p->n_chunks >= 0 && p->n_chunks < r->n_chunks) r->n_chunks = p->n_chunks;
    r->first = p->n_ctx / 2;
    r->n_rows = p->n_ctx - 1 - r->first;
    r->n_vocab = m->hp.n_vocab;
    const size_t V = (size_t)r->n_vocab, R = (size_t)r->n_rows;

    if ((st = gf_state_init(&r->st, m, p->n_ctx, p->n_batch, p->kv_type, err))) goto fail;
    if (base && (st = gf_state_init(&r->st_base, base, p->n_ctx, p->n_batch, p->kv_type, err))) goto fail;
    r->tokens = malloc((size_t)n_tokens * sizeof *r->tokens);
    r->win = malloc((size_t)p->n_ctx * sizeof *r->win);
    r->logits = malloc((size_t)(p->n_ctx - r->first) * V * sizeof *r->logits);
    r->rows = calloc(R, sizeof *r->rows);
    if (!r->tokens || !r->win || !r->logits || !r->rows) goto nomem;
    memcpy(r->tokens, tokens, (size_t)n_tokens * sizeof *tokens);
    if (base) {
        r->base_code = malloc(R * V * sizeof *r->base_code);
        r->base_scale = malloc(R * sizeof(float));
        r->base_min = malloc(R * sizeof(float));
        r->kld_values = malloc((size_t)r->n_chunks * R * sizeof(float));
        r->p_diff_values = malloc((size_t)r->n_chunks * R * sizeof(float));
        if (!r->base_code || !r->base_scale || !r->base_min || !r->kld_values || !r->p_diff_values) goto nomem;
    }
    *out = r;
    return GF_OK;
nomem:
    st = gf_errf(err, GF_E_NOMEM, "perplexity: out of memory for a context of %lld and %lld vocabulary entries",
                 (long long)p->n_ctx, (long long)r->n_vocab);
fail:
    gf_ppl_free(r);
    return st;
}

void gf_ppl_free(gf_ppl *r) {
    if (!r) return;
    gf_state_free(&r->st);
    gf_state_free(&r->st_base);
    free(r->tokens);
    free(r->win);
    free(r->logits);
    free(r->base_code);
    free(r->base_scale);
    free(r->base_min);
    free(r->rows);
    free(r->kld_values);
    free(r->p_diff_values);
    free(r);
}

int64_t gf_ppl_n_chunks(const gf_ppl *r) { return r->n_chunks; }

/* ---------------------------------------------------------------- evaluation */

gf_status gf_ppl_step(gf_ppl *r, gf_err *err) {
    if (r->next >= r->n_chunks) return gf_errf(err, GF_E_USAGE, "perplexity: all %lld windows are done",
                                                (long long)r->n_chunks);
    const int64_t n_ctx = r->p.n_ctx, first = r->first, R = r->n_rows, V = r->n_vocab;
    const int32_t *src = r->tokens + r->next * n_ctx;
    memcpy(r->win, src, (size_t)n_ctx * sizeof *r->win);
    if (r->p.add_bos) r->win[0] = r->p.bos_id;
    gf_status st;

    if (r->base) {
        if ((st = gf_forward(r->base, &r->st_base, r->win, n_ctx, 0, first, r->logits, NULL, err))) return st;
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < R; i++)
            code_base_row(r->logits + i * V, V, r->base_code + i * V, &r->base_scale[i], &r->base_min[i]);
    }
    if ((st = gf_forward(r->m, &r->st, r->win, n_ctx, 0, first, r->logits, NULL, err))) return st;
    /* the token after position first+i; the original text, never the BOS */
    const int32_t *next_tok = src + first + 1;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < R; i++)
        score_row(r->logits + i * V, V, next_tok[i], r->base ? r->base_code + i * V : NULL,
                  r->base ? r->base_scale[i] : 0.0f, r->base ? r->base_min[i] : 0.0f, &r->rows[i]);

    /* Sums in row order, so that the thread count cannot change them. */
    for (int64_t i = 0; i < R; i++) {
        const row_stat *s = &r->rows[i];
        r->nll += s->nll;
        r->nll2 += s->nll * s->nll;
        if (!r->base) continue;
        r->s_nll += s->nll_q;
        r->s_nll2 += s->nll_q * s->nll_q;
        r->s_nll_base += s->nll_base;
        r->s_nll_base2 += s->nll_base * s->nll_base;
        r->s_nll_nll_base += s->nll_q * s->nll_base;
        r->s_kld += s->kld;
        r->s_kld2 += s->kld * s->kld;
        r->s_p_diff += s->p_diff;
        const double d2 = s->p_diff * s->p_diff;
        r->s_p_diff2 += d2;
        r->s_p_diff4 += d2 * d2;
        r->n_same_top += s->same_top;
        r->kld_values[r->count + i] = (float)s->kld;
        r->p_diff_values[r->count + i] = s->p_diff;
    }
    r->count += R;
    r->next++;
    return GF_OK;
}

/* ---------------------------------------------------------------- statistics */

/* Mean and standard error of the mean; the error is 0 for 10 values or fewer
 * (llama-perplexity's rule). */
static void mean_err(double sum, double sum2, int64_t n, double *mean, double *e) {
    *mean = *e = 0.0;
    if (n < 1) return;
    *mean = sum / (double)n;
    double var = sum2 / (double)n - *mean * *mean;
    *e = var > 0 && n > 10 ? sqrt(var / (double)(n - 1)) : 0.0;
}

static double covariance(double sa, double sb, double sab, int64_t n) {
    if (n < 10) return 0.0;
    return (sab / (double)n - (sa / (double)n) * (sb / (double)n)) / (double)(n - 1);
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between sorted values, as llama-perplexity's percentile. */
static double percentile(const float *v, int64_t n, float fraction) {
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    float p = fraction * (float)(n - 1);
    const int64_t ip = (int64_t)p;
    p -= (float)ip;
    const int64_t ip1 = ip + 1 < n ? ip + 1 : n - 1;
    return (1 - p) * v[ip] + p * v[ip1];
}

static double median(const float *v, int64_t n) {
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

void gf_ppl_summary(const gf_ppl *r, gf_ppl_report *rep, int percentiles) {
    memset(rep, 0, sizeof *rep);
    rep->chunks_done = r->next;
    rep->n_chunks = r->n_chunks;
    const int64_t n = rep->count = r->count;
    if (n < 1) return;
    const double mean = r->nll / (double)n;
    rep->ppl = exp(mean);
    const double var = r->nll2 / (double)n - mean * mean;
    rep->ppl_err = var > 0 && n > 1 ? sqrt(var / (double)(n - 1)) * rep->ppl : 0.0;
    if (!r->base) return;

    double lq, lq_e, lb, lb_e;
    mean_err(r->s_nll, r->s_nll2, n, &lq, &lq_e);
    mean_err(r->s_nll_base, r->s_nll_base2, n, &lb, &lb_e);
    rep->ppl_q = exp(lq);
    rep->ppl_q_err = rep->ppl_q * lq_e;
    rep->ppl_base = exp(lb);
    rep->ppl_base_err = rep->ppl_base * lb_e;
    const double cov = covariance(r->s_nll, r->s_nll_base, r->s_nll_nll_base, n);
    rep->cor = lq_e > 0 && lb_e > 0 ? cov / (lq_e * lb_e) : 0.0;
    rep->ln_ratio = lq - lb;
    rep->ln_ratio_err = sqrt(fmax(0.0, lq_e * lq_e + lb_e * lb_e - 2.0 * cov));
    rep->ratio = exp(rep->ln_ratio);
    rep->ratio_err = rep->ratio * rep->ln_ratio_err;
    rep->diff = rep->ppl_q - rep->ppl_base;
    rep->diff_err = sqrt(fmax(0.0, rep->ppl_q_err * rep->ppl_q_err + rep->ppl_base_err * rep->ppl_base_err -
                                       2.0 * rep->ppl_q * rep->ppl_base * cov));
    mean_err(r->s_kld, r->s_kld2, n, &rep->kld, &rep->kld_err);
    double mse, mse_e;
    mean_err(r->s_p_diff2, r->s_p_diff4, n, &mse, &mse_e);
    rep->dp_rms = sqrt(mse);
    rep->dp_rms_err = rep->dp_rms > 0 ? 0.5 / rep->dp_rms * mse_e : 0.0;
    mean_err(r->s_p_diff, r->s_p_diff2, n, &rep->dp_mean, &rep->dp_mean_err);
    rep->same_top = (double)r->n_same_top / (double)n;
    rep->same_top_err = n > 1 ? sqrt(rep->same_top * (1.0 - rep->same_top) / (double)(n - 1)) : 0.0;
    if (!percentiles) return;

    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return; /* percentiles stay 0: nothing to report them from */
    memcpy(v, r->kld_values, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    rep->kld_max = v[n - 1];
    rep->kld_p999 = percentile(v, n, 0.999f);
    rep->kld_p99 = percentile(v, n, 0.990f);
    rep->kld_median = median(v, n);
    rep->kld_p10 = percentile(v, n, 0.100f);
    rep->kld_p05 = percentile(v, n, 0.050f);
    rep->kld_p01 = percentile(v, n, 0.010f);
    rep->kld_min = v[0];
    memcpy(v, r->p_diff_values, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    rep->dp_max = v[n - 1];
    rep->dp_p999 = percentile(v, n, 0.999f);
    rep->dp_p99 = percentile(v, n, 0.990f);
    rep->dp_p95 = percentile(v, n, 0.950f);
    rep->dp_p90 = percentile(v, n, 0.900f);
    rep->dp_p75 = percentile(v, n, 0.750f);
    rep->dp_median = median(v, n);
    rep->dp_p25 = percentile(v, n, 0.250f);
    rep->dp_p10 = percentile(v, n, 0.100f);
    rep->dp_p05 = percentile(v, n, 0.050f);
    rep->dp_p01 = percentile(v, n, 0.010f);
    rep->dp_p001 = percentile(v, n, 0.001f);
    rep->dp_min = v[0];
    free(v);
}
