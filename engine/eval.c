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
    int32_t *seq[GF_EVAL_MAX_CHOICES]; /* tokens of each full sequence (malloc'd) */
    size_t len[GF_EVAL_MAX_CHOICES];
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
    for (int s = 0; s < GF_EVAL_MAX_CHOICES; s++) free(e->seq[s]);
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

/* ---------------------------------------------------------------- shared-prefix scoring */

/* e->seq[s] = tokens of prefix + sep + cont[s] (cont[s] of clen[s] bytes), as
 * common_tokenize(ctx, text, true): BOS as the vocabulary asks, no special tokens. */
static gf_status tokenize_choices(gf_eval *e, const char *prefix, size_t lp, const char *sep, const char *const *cont,
                                  const size_t *clen, int n, gf_err *err) {
    const size_t ls = strlen(sep);
    for (int s = 0; s < n; s++) {
        const size_t need = lp + ls + clen[s] + 1;
        if (need > e->text_cap) {
            char *b = realloc(e->text, need);
            if (!b) return gf_errf(err, GF_E_NOMEM, "eval: out of memory for a %zu-byte task", need);
            e->text = b;
            e->text_cap = need;
        }
        memcpy(e->text, prefix, lp);
        memcpy(e->text + lp, sep, ls);
        memcpy(e->text + lp + ls, cont[s], clen[s]);
        free(e->seq[s]);
        e->seq[s] = NULL;
        GF_TRY(gf_tokenize(e->tok, e->text, lp + ls + clen[s], 1, 0, &e->seq[s], &e->len[s], err));
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
 * and first_lp = log p(seq[cp]) from the prefix's last logits.  float_sum: sum
 * and divide in float (llama.cpp's multiple choice), else in double (HellaSwag). */
static gf_status score_ending(gf_eval *e, const int32_t *seq, int64_t len, int64_t cp, float first_lp, int float_sum,
                              double *mean, gf_err *err) {
    const int64_t rows = len - 1 - cp, V = e->n_vocab;
    double lp = first_lp;
    float lpf = first_lp;
    if (rows > 0) {
        GF_TRY(grow_rows(e, rows, err));
        GF_TRY(gf_forward(e->m, &e->st, seq + cp, rows, cp, 0, e->logits, NULL, err));
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < rows; i++) e->row_lp[i] = row_logprob(e->logits + i * V, V, seq[cp + 1 + i]);
        for (int64_t i = 0; i < rows; i++) {
            lp += e->row_lp[i];
            lpf += e->row_lp[i];
        }
    }
    *mean = float_sum ? (double)(lpf / (float)(rows + 1)) : lp / (double)(rows + 1);
    return GF_OK;
}

/* Scores e->seq[0..n): the shared tokens once into the cache, each ending from
 * there; res->pred is the first ending of highest mean log-probability. */
static gf_status score_choices(gf_eval *e, int n, int float_sum, double *lp, gf_eval_result *res, gf_err *err) {
    const int64_t cp = common_prefix(e->seq, e->len, n);
    GF_FAIL_IF(cp == 0, err, GF_E_VALUE, "the %d endings share no first token (an empty context?)", n);
    int64_t need = cp;
    for (int s = 0; s < n; s++) need += (int64_t)e->len[s] - cp;
    res->n_tokens = need;
    res->n_prefix = cp;
    GF_FAIL_IF(need > e->p.n_ctx, err, GF_E_VALUE,
               "the task needs %lld tokens, more than the context of %lld (-c)", (long long)need,
               (long long)e->p.n_ctx);
    GF_TRY(grow_rows(e, 1, err));
    GF_TRY(gf_forward(e->m, &e->st, e->seq[0], cp, 0, cp - 1, e->logits, NULL, err));
    float first_lp[GF_EVAL_MAX_CHOICES];
    for (int s = 0; s < n; s++) first_lp[s] = softmax_logprob(e->logits, e->n_vocab, e->seq[s][cp]);
    for (int s = 0; s < n; s++)
        GF_TRY(score_ending(e, e->seq[s], (int64_t)e->len[s], cp, first_lp[s], float_sum, &lp[s], err));
    res->pred = 0;
    for (int s = 1; s < n; s++)
        if (lp[s] > lp[res->pred]) res->pred = s;
    return GF_OK;
}

/* ---------------------------------------------------------------- HellaSwag, multiple choice */

gf_status gf_eval_hellaswag(gf_eval *e, const gf_hs_task *t, gf_eval_result *res, gf_err *err) {
    memset(res, 0, sizeof *res);
    size_t clen[GF_HS_ENDINGS];
    for (int s = 0; s < GF_HS_ENDINGS; s++) clen[s] = strlen(t->ending[s]);
    GF_TRY(tokenize_choices(e, t->ctx, strlen(t->ctx), " ", t->ending, clen, GF_HS_ENDINGS, err));
    return score_choices(e, GF_HS_ENDINGS, 0, res->lp, res, err);
}

gf_status gf_eval_multiple_choice(gf_eval *e, const gf_mc_task *t, gf_eval_result *res, gf_err *err) {
    memset(res, 0, sizeof *res);
    GF_FAIL_IF(t->question_len == 0 || t->n_answers == 0, err, GF_E_VALUE, "an empty question or no answers");
    for (int s = 0; s < t->n_answers; s++)
        GF_FAIL_IF(t->answer_len[s] == 0, err, GF_E_VALUE, "answer %d is empty", s + 1);
    GF_TRY(tokenize_choices(e, t->question, t->question_len, " ", t->answer, t->answer_len, t->n_answers, err));
    double lp[GF_EVAL_MAX_CHOICES];
    GF_TRY(score_choices(e, t->n_answers, 1, lp, res, err));
    for (int s = 0; s < t->n_answers && s < GF_HS_ENDINGS; s++) res->lp[s] = lp[s];
    return GF_OK;
}

/* ---------------------------------------------------------------- Winogrande */

/* One sentence's score as llama.cpp's winogrande_score: tokens j+1 for j from
 * n_base-1 to len-2-last, the logits of position j (position cp-1: first_row),
 * summed and divided in float. */
static float wg_score(const gf_eval *e, const int32_t *seq, int64_t len, int64_t cp, int64_t n_base,
                      const float *first_row, const float *rows) {
    const int64_t V = e->n_vocab, last = len - n_base > 1 ? 1 : 0;
    float sum = 0.0f;
    for (int64_t j = n_base - 1; j < len - 1 - last; j++) {
        const float *l = j == cp - 1 ? first_row : rows + (size_t)(j - cp) * (size_t)V;
        sum += row_logprob(l, V, seq[j + 1]);
    }
    return sum / (float)(len - n_base - last);
}

gf_status gf_eval_winogrande(gf_eval *e, const gf_wg_task *t, gf_eval_result *res, gf_err *err) {
    memset(res, 0, sizeof *res);
    const char *mid[2] = {t->choice[0], t->choice[1]};
    size_t mlen[2] = {strlen(t->choice[0]), strlen(t->choice[1])}, n_base[2];
    const size_t lf = strlen(t->first), ls = strlen(t->second);
    for (int k = 0; k < 2; k++) { /* tokens of first + choice: only their count is used */
        GF_TRY(tokenize_choices(e, t->first, lf, "", &mid[k], &mlen[k], 1, err));
        n_base[k] = e->len[0];
    }
    for (int k = 0; k < 2; k++) { /* first + choice + second */
        const size_t n = lf + mlen[k] + ls;
        char *b = malloc(n + 1);
        GF_FAIL_IF(!b, err, GF_E_NOMEM, "eval: out of memory for a %zu-byte task", n);
        memcpy(b, t->choice[k], mlen[k]);
        memcpy(b + mlen[k], t->second, ls);
        const char *cont = b;
        const size_t cl = mlen[k] + ls;
        gf_status st = tokenize_choices(e, t->first, lf, "", &cont, &cl, 1, err);
        free(b);
        GF_TRY(st);
        int32_t *tmp = e->seq[0];
        e->seq[0] = e->seq[k + 2];
        e->seq[k + 2] = tmp;
        size_t tl = e->len[0];
        e->len[0] = e->len[k + 2];
        e->len[k + 2] = tl;
    }
    int32_t *seq[2] = {e->seq[2], e->seq[3]};
    const size_t len[2] = {e->len[2], e->len[3]};
    if (len[0] == len[1] && !memcmp(seq[0], seq[1], len[0] * sizeof *seq[0])) {
        /* the same sentence twice (equal options): llama.cpp scores nothing, 0/0 twice, and answers 2 */
        volatile float zero = 0.0f;
        res->lp[0] = res->lp[1] = zero / zero;
        res->pred = 1;
        res->n_tokens = res->n_prefix = (int64_t)len[0];
        return GF_OK;
    }
    const int64_t cp = common_prefix(seq, len, 2);
    GF_FAIL_IF(cp == 0, err, GF_E_VALUE, "the two sentences share no first token (an empty sentence?)");
    const int64_t need = cp + ((int64_t)len[0] - cp) + ((int64_t)len[1] - cp);
    res->n_tokens = need;
    res->n_prefix = cp;
    GF_FAIL_IF(need > e->p.n_ctx, err, GF_E_VALUE, "the task needs %lld tokens, more than the context of %lld (-c)",
               (long long)need, (long long)e->p.n_ctx);

    /* logit rows: the prefix's last, then every position of sentence 1 past it, then of sentence 2 */
    GF_TRY(grow_rows(e, 1 + need - cp, err));
    const size_t V = (size_t)e->n_vocab;
    float *first_row = e->logits, *rows[2] = {e->logits + V, e->logits + V * (1 + len[0] - (size_t)cp)};
    GF_TRY(gf_forward(e->m, &e->st, seq[0], cp, 0, cp - 1, first_row, NULL, err));
    for (int k = 0; k < 2; k++)
        GF_TRY(gf_forward(e->m, &e->st, seq[k] + cp, (int64_t)len[k] - cp, cp, 0, rows[k], NULL, err));

    const int skip = (int64_t)len[0] - cp > 3 && (int64_t)len[1] - cp > 3; /* k_min_trailing_ctx */
    float score[2];
    for (int k = 0; k < 2; k++) {
        int64_t nb = skip ? (int64_t)n_base[k] : cp;
        if (nb < cp) nb = cp; /* positions before cp-1 have no logits (llama.cpp would index before its own) */
        /* the quirk: the second sentence's position cp-1 row is the first sentence's last one */
        const float *fr = k == 0 ? first_row : rows[0] + (size_t)(len[0] - 1 - cp) * (size_t)e->n_vocab;
        score[k] = wg_score(e, seq[k], (int64_t)len[k], cp, nb, fr, rows[k]);
    }
    res->lp[0] = score[0];
    res->lp[1] = score[1];
    res->pred = score[0] > score[1] ? 0 : 1;
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

gf_status gf_eval_draw_swap(int64_t n_total, int64_t n, int64_t *order, gf_err *err) {
    GF_FAIL_IF(n < 0 || n > n_total || n_total >= ((int64_t)1 << 31), err, GF_E_USAGE,
               "eval: cannot draw %lld of %lld tasks", (long long)n, (long long)n_total);
    int64_t *aux = malloc((size_t)n_total * sizeof *aux + 1);
    GF_FAIL_IF(!aux, err, GF_E_NOMEM, "eval: out of memory drawing %lld tasks", (long long)n_total);
    gf_mt19937 g;
    gf_mt_seed(&g, 1);
    const float scale = 1.0f / (1.0f + (float)UINT32_MAX); /* (float)(2^32 - 1) rounds to 2^32 */
    for (int64_t i = 0; i < n_total; i++) aux[i] = i;
    int64_t size = n_total;
    for (int64_t i = 0; i < n; i++) {
        const float x = scale * (float)gf_mt_next(&g) * (float)size;
        int64_t j = (int64_t)x;
        if (j >= size) j = size - 1; /* x rounded up to size: llama.cpp would index past the end */
        order[i] = aux[j];
        aux[j] = aux[size - 1];
        size--;
    }
    free(aux);
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
