/*
 * eval.h - task accuracy with the bundled engine, scored as llama-perplexity
 * (c392e50, examples/perplexity/perplexity.cpp) scores it, so that the numbers
 * are comparable with llama.cpp's: HellaSwag acc_norm, llama.cpp's task draw,
 * and the statistics `eval` prints (accuracy and its error, the paired
 * comparison of two models on the same tasks).  Does not print.
 */
#ifndef GF_EVAL_H
#define GF_EVAL_H

#include "forward.h"
#include "tokenizer.h"
#include "../formats/evalfile.h"

typedef struct {
    int64_t n_ctx;     /* llama.cpp's -c: a task's tokens (shared prefix once, then every ending) must fit */
    int64_t n_batch;   /* tokens per forward call                                                       */
    gf_type kv_type;   /* GF_TYPE_F16 gives llama.cpp's numbers                                          */
} gf_eval_params;

/* One scored task. */
typedef struct {
    int pred;                          /* the ending of highest mean log-probability            */
    double lp[GF_HS_ENDINGS];          /* each ending's mean log-probability per token          */
    int64_t n_tokens;                  /* tokens the task needs: the prefix once, then the endings */
    int64_t n_prefix;                  /* tokens the endings share, evaluated once               */
} gf_eval_result;

typedef struct gf_eval gf_eval;

/* A scorer for model m with tokenizer tok (both must outlive it). */
gf_status gf_eval_init(gf_eval **out, const gf_model *m, const gf_tokenizer *tok, const gf_eval_params *p,
                       gf_err *err);
void gf_eval_free(gf_eval *e);

/* Scores a HellaSwag task as llama-perplexity: each "context + ' ' + ending" is
 * tokenized whole (BOS as the vocabulary asks, no special tokens); the tokens
 * all four share are evaluated once into the KV cache, each ending from there;
 * an ending scores the mean of its tokens' log-probabilities (acc_norm).
 * GF_E_VALUE when the task does not fit n_ctx or its endings share no token. */
gf_status gf_eval_hellaswag(gf_eval *e, const gf_hs_task *t, gf_eval_result *res, gf_err *err);

/* llama-perplexity's task order: n of n_total tasks drawn one by one, each
 * uniformly among those not drawn yet (std::mt19937 seeded 1 and libstdc++'s
 * uniform_int_distribution); order (n) gets the tasks' indices in the file.
 * GF_E_USAGE unless 0 ≤ n ≤ n_total < 2^31. */
gf_status gf_eval_draw(int64_t n_total, int64_t n, int64_t *order, gf_err *err);

/* Scores a multiple-choice task as llama-perplexity's --multiple-choice: as
 * HellaSwag (question + " " + answer, the shared tokens once, the mean
 * log-probability per token), summed in float as llama.cpp sums it there.
 * res->pred indexes t->answer; res->lp holds the first four means.  GF_E_VALUE
 * for an empty question or answer, or a task that does not fit n_ctx. */
gf_status gf_eval_multiple_choice(gf_eval *e, const gf_mc_task *t, gf_eval_result *res, gf_err *err);

/* Scores a Winogrande task as llama-perplexity's --winogrande: the two sentences
 * first + choice + second; when both run more than 3 tokens past their shared
 * prefix only the tokens after the choice are scored (their count from tokenizing
 * first + choice), else everything after the prefix; never the last token; the
 * mean log-probability in float.  Also llama.cpp's quirk (its FIXME): without the
 * skip, the second sentence's first token is scored from the logits after the
 * first sentence's last token.  res->pred is 0 or 1 (answer 1 or 2), res->lp[0..1]
 * the two scores.  GF_E_VALUE when the task does not fit n_ctx. */
gf_status gf_eval_winogrande(gf_eval *e, const gf_wg_task *t, gf_eval_result *res, gf_err *err);

/* The other draw of llama-perplexity (--multiple-choice-tasks, --winogrande-tasks):
 * j = (int)(2^-32 * mt() * remaining) in float arithmetic, the drawn task replaced
 * by the last one left.  GF_E_USAGE unless 0 ≤ n ≤ n_total < 2^31. */
gf_status gf_eval_draw_swap(int64_t n_total, int64_t n, int64_t *order, gf_err *err);

/* Accuracy right/n and its standard error sqrt(p(1-p)/(n-1)) (as llama.cpp's
 * final lines), both as fractions; the 95 % interval is acc ± 1.96 se. */
void gf_eval_accuracy(int64_t right, int64_t n, double *acc, double *se);

/* Two models on the same n tasks: a[i], b[i] are 1 where each was right. */
typedef struct {
    int64_t n, both, a_only, b_only, neither;
    double acc_a, acc_b;
    double diff, diff_se;   /* acc_a - acc_b, and its paired standard error:
                               sqrt((a_only + b_only)/n - diff^2) / sqrt(n)          */
    double agree;           /* (both + neither) / n                                    */
} gf_eval_paired;
void gf_eval_pair(const uint8_t *a, const uint8_t *b, int64_t n, gf_eval_paired *out);

#endif /* GF_EVAL_H */
