/*
 * eval.c - HellaSwag scored as llama-perplexity scores it (c392e50,
 * examples/perplexity/perplexity.cpp, hellaswag_score), its task draw, and the
 * accuracy statistics of `gguf-forge eval`.
 *
 * llama.cpp puts the tokens the four endings share in the batch once, under the
 * four sequence ids, and each ending after them.  Here the shared tokens go into
 * the KV cache once (positions 0..P-1) and each ending is run from position P,
 * overwriting the previous ending's cache rows: the same attention, no
 * recomputation.  The log-probabilities are summed in llama.cpp's precisions
 * (float log-softmax rows, the first token through a double-sum softmax), since
 * acc_norm compares means that can be close.  Does not print.
 */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rand.h"

struct gf_eval {
    const gf_model *m;
    const gf_tokenizer *tok;
    gf_eval_params p;
    gf_state st;
    int64_t n_vocab;
    char *text;                       /* "context ending" being tokenized        */
    size_t text_cap;
    int32_t *seq[GF_HS_ENDINGS];      /* tokens of each full sequence (malloc'd) */
    size_t len[GF_HS_ENDINGS];
    float *logits;                    /* (rows_cap, V)                            */
    int64_t rows_cap;
    float *row_lp;                    /* (rows_cap) log-probability per row       */
};

gf_status gf_eval_init(gf_eval **out, const gf_model *m, const gf_tokenizer *tok, const gf_eval_params *p,
                       gf_err *err) {
    *out = NULL;
    if (p->n_ctx < 4 || p->n_batch < 1)
        return gf_errf(err, GF_E_USAGE, "eval: context %lld and batch %lld are not valid (context >= 4)",
                       (long long)p->n_ctx, (long long)p->n_batch);
    gf_eval *e = calloc(1, sizeof *e);
    if (!e) return gf_errf(err, GF_E_NOMEM, "eval: out of memory");
    e->m = m;
    e->tok = tok;
    e->p = *p;
    e->n_vocab = m->hp.n_vocab;
    const int64_t nb = p->n_batch < p->n_ctx ? p->n_batch : p->n_ctx;
    gf_status st = gf_state_init(&e->st, m, p->n_ctx, nb, p->kv_type, err);
    if (st) {
        gf_eval_free(e);
        return st;
    }
    *out = e;
    return GF_OK;
}

void gf_eval_free(gf_eval *e) {
    if (!e) return;
    gf_state_free(&e->st);
    free(e->text);
    for (int s = 0; s < GF_HS_ENDINGS; s++) free(e->seq[s]);
    free(e->logits);
    free(e->row_lp);
    free(e);
}

/* ---------------------------------------------------------------- log-probabilities */

/* log p(tok) of a logit row in float, as llama.cpp's compute_logprobs: float max,
 * a float sum of expf in index order, logits[tok] - max - log(sum). */
static float row_logprob(const float *l, int64_t n_vocab, int32_t tok) {
    float mx = l[0];
    for (int64_t j = 1; j < n_vocab; j++) mx = mx < l[j] ? l[j] : mx;
    float sum = 0.0f;
    for (int64_t j = 0; j < n_vocab; j++) sum += expf(l[j] - mx);
    return l[tok] - mx - logf(sum);
}

/* log p(tok) through llama.cpp's softmax(): exps in float, their sum in double,
 * each probability rounded to float, then the float log of it. */
static float softmax_logprob(const float *l, int64_t n_vocab, int32_t tok) {
    float mx = l[0];
    for (int64_t j = 0; j < n_vocab; j++) mx = mx < l[j] ? l[j] : mx;
    double sum = 0.0;
    for (int64_t j = 0; j < n_vocab; j++) sum += expf(l[j] - mx);
    const float p = (float)(expf(l[tok] - mx) / sum);
    return logf(p);
}

static gf_status grow_rows(gf_eval *e, int64_t rows, gf_err *err) {
    if (rows <= e->rows_cap) return GF_OK;
    float *l = realloc(e->logits, (size_t)rows * (size_t)e->n_vocab * sizeof *l);
    if (!l) return gf_errf(err, GF_E_NOMEM, "eval: out of memory for %lld logit rows", (long long)rows);
    e->logits = l;
    float *r = realloc(e->row_lp, (size_t)rows * sizeof *r);
    if (!r) return gf_errf(err, GF_E_NOMEM, "eval: out of memory for %lld logit rows", (long long)rows);
    e->row_lp = r;
    e->rows_cap = rows;
    return GF_OK;
}

/* ---------------------------------------------------------------- HellaSwag */

/* e->seq[s] = tokens of ctx + " " + ending[s], as common_tokenize(ctx, text, true). */
static gf_status tokenize_endings(gf_eval *e, const gf_hs_task *t, gf_err *err) {
    const size_t lc = strlen(t->ctx);
    for (int s = 0; s < GF_HS_ENDINGS; s++) {
        const size_t le = strlen(t->ending[s]), need = lc + 1 + le + 1;
        if (need > e->text_cap) {
            char *b = realloc(e->text, need);
            if (!b) return gf_errf(err, GF_E_NOMEM, "eval: out of memory for a %zu-byte task", need);
            e->text = b;
            e->text_cap = need;
        }
        memcpy(e->text, t->ctx, lc);
        e->text[lc] = ' ';
        memcpy(e->text + lc + 1, t->ending[s], le);
        free(e->seq[s]);
        e->seq[s] = NULL;
        GF_TRY(gf_tokenize(e->tok, e->text, lc + 1 + le, 1, 0, &e->seq[s], &e->len[s], err));
    }
    return GF_OK;
}

/* Tokens all sequences share, at most the shortest length minus one so that every
 * ending keeps a token to score (llama.cpp reads past the shortest one there). */
static int64_t common_prefix(int32_t *const *seq, const size_t *len, int n) {
    size_t min_len = len[0];
    for (int s = 1; s < n; s++) min_len = len[s] < min_len ? len[s] : min_len;
    size_t k = 0;
    for (; k < min_len; k++) {
        int same = 1;
        for (int s = 1; s < n; s++) same &= seq[s][k] == seq[0][k];
        if (!same) break;
    }
    if (k == min_len && k > 0) k--;
    return (int64_t)k;
}

/* The mean log-probability of seq[cp..len) given the cache holding seq[0..cp)
 * and first_lp = log p(seq[cp]) from the prefix's last logits. */
static gf_status score_ending(gf_eval *e, const int32_t *seq, int64_t len, int64_t cp, float first_lp,
                              double *mean, gf_err *err) {
    const int64_t rows = len - 1 - cp, V = e->n_vocab;
    double lp = first_lp;
    if (rows > 0) {
        GF_TRY(grow_rows(e, rows, err));
        GF_TRY(gf_forward(e->m, &e->st, seq + cp, rows, cp, 0, e->logits, NULL, err));
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < rows; i++) e->row_lp[i] = row_logprob(e->logits + i * V, V, seq[cp + 1 + i]);
        for (int64_t i = 0; i < rows; i++) lp += e->row_lp[i];
    }
    *mean = lp / (double)(rows + 1);
    return GF_OK;
}

gf_status gf_eval_hellaswag(gf_eval *e, const gf_hs_task *t, gf_eval_result *res, gf_err *err) {
    memset(res, 0, sizeof *res);
    GF_TRY(tokenize_endings(e, t, err));
    const int64_t cp = common_prefix(e->seq, e->len, GF_HS_ENDINGS);
    GF_FAIL_IF(cp == 0, err, GF_E_VALUE, "the four endings share no first token (an empty context?)");
    int64_t need = cp;
    for (int s = 0; s < GF_HS_ENDINGS; s++) need += (int64_t)e->len[s] - cp;
    res->n_tokens = need;
    res->n_prefix = cp;
    GF_FAIL_IF(need > e->p.n_ctx, err, GF_E_VALUE,
               "the task needs %lld tokens, more than the context of %lld (-c)", (long long)need,
               (long long)e->p.n_ctx);

    GF_TRY(grow_rows(e, 1, err));
    GF_TRY(gf_forward(e->m, &e->st, e->seq[0], cp, 0, cp - 1, e->logits, NULL, err));
    float first_lp[GF_HS_ENDINGS];
    for (int s = 0; s < GF_HS_ENDINGS; s++) first_lp[s] = softmax_logprob(e->logits, e->n_vocab, e->seq[s][cp]);
    for (int s = 0; s < GF_HS_ENDINGS; s++)
        GF_TRY(score_ending(e, e->seq[s], (int64_t)e->len[s], cp, first_lp[s], &res->lp[s], err));
    res->pred = 0;
    for (int s = 1; s < GF_HS_ENDINGS; s++)
        if (res->lp[s] > res->lp[res->pred]) res->pred = s;
    return GF_OK;
}

/* ---------------------------------------------------------------- draw and statistics */

gf_status gf_eval_draw(int64_t n_total, int64_t n, int64_t *order, gf_err *err) {
    GF_FAIL_IF(n < 0 || n > n_total || n_total >= ((int64_t)1 << 31), err, GF_E_USAGE,
               "eval: cannot draw %lld of %lld tasks", (long long)n, (long long)n_total);
    int64_t *left = malloc((size_t)n_total * sizeof *left + 1);
    GF_FAIL_IF(!left, err, GF_E_NOMEM, "eval: out of memory drawing %lld tasks", (long long)n_total);
    gf_mt19937 g;
    gf_mt_seed(&g, 1);
    for (int64_t i = 0; i < n_total; i++) left[i] = i;
    int64_t n_left = n_total;
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = gf_mt_below(&g, (uint32_t)n_left);
        order[i] = left[k];
        memmove(left + k, left + k + 1, (size_t)(n_left - k - 1) * sizeof *left);
        n_left--;
    }
    free(left);
    return GF_OK;
}

void gf_eval_accuracy(int64_t right, int64_t n, double *acc, double *se) {
    *acc = n > 0 ? (double)right / (double)n : 0.0;
    *se = n > 1 ? sqrt(*acc * (1.0 - *acc) / (double)(n - 1)) : 0.0;
}

void gf_eval_pair(const uint8_t *a, const uint8_t *b, int64_t n, gf_eval_paired *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] && b[i]) out->both++;
        else if (a[i]) out->a_only++;
        else if (b[i]) out->b_only++;
        else out->neither++;
    }
    if (n == 0) return;
    const double dn = (double)n;
    out->acc_a = (double)(out->both + out->a_only) / dn;
    out->acc_b = (double)(out->both + out->b_only) / dn;
    out->diff = (double)(out->a_only - out->b_only) / dn;
    const double v = (double)(out->a_only + out->b_only) / dn - out->diff * out->diff;
    out->diff_se = v > 0 ? sqrt(v / dn) : 0.0;
    out->agree = (double)(out->both + out->neither) / dn;
}
