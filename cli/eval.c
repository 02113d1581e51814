/*
 * eval.c - `gguf-forge eval MODEL.gguf --hellaswag FILE [...]`: task accuracy
 * with the bundled engine, printed as llama-perplexity prints it (a header
 * "task<TAB>acc_norm", then "N<TAB>running accuracy %" per task) so that
 * scripts written for llama.cpp read ours, then a final line with the accuracy
 * and its 95 % interval.  --vs BASE.gguf scores both files on the same tasks
 * and prints their paired comparison.  Options and printing only: the scoring
 * is engine/eval.c's, the file parsing formats/evalfile.c's.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/textfile.h"
#include "../engine/eval.h"
#include "../formats/vocab.h"
#include "cli.h"

#define MAX_TASK_BYTES ((size_t)1 << 30)
#define DEFAULT_TASKS 400 /* llama-perplexity's --hellaswag-tasks default */
#define Z95 1.959963984540054

typedef struct {
    const char *model, *base, *hellaswag;
    long n_ctx, n_batch, threads, n_tasks;
    int all_tasks, tasks_given;
    gf_type kv_type;
} eval_opts;

/* One model and what scoring it needs. */
typedef struct {
    gf_model *m;
    gf_vocab *vocab;
    gf_tokenizer *tok;
    gf_eval *ev;
} scorer;

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge eval MODEL.gguf --hellaswag FILE [options]\n\n"
               "Task accuracy of MODEL, scored as llama-perplexity scores it.  HellaSwag: acc_norm, the ending\n"
               "of highest mean log-probability per token.  FILE may be gzip-compressed.\n\n"
               "options:\n"
               "      --hellaswag FILE  HellaSwag tasks in llama.cpp's text layout (6 lines per task)\n"
               "      --tasks N         score N tasks drawn as llama-perplexity draws them (std::mt19937\n"
               "                        seeded 1; default %d, or every task with --vs)\n"
               "      --all-tasks       score every task once, in file order\n"
               "      --vs BASE.gguf    also score BASE on the same tasks; print both accuracies, their\n"
               "                        difference with its paired standard error, and the agreement\n"
               "  -c, --ctx-size N     a task's tokens must fit in N (default 512, as llama.cpp)\n"
               "  -b, --batch-size N   tokens per forward call (default 2048, at most -c)\n"
               "  -t, --threads N      threads (default: all cores)\n"
               "      --kv-type T      KV cache f16 (default, as llama.cpp) or f32\n",
            DEFAULT_TASKS);
}

/* 0, or -1 after a message; *i moves past a consumed value. */
static int parse_opts(int argc, char **argv, eval_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
#define INT(lo, hi, dst) do { if (gf_cli_int("eval", a, v, lo, hi, dst)) return -1; i++; } while (0)
#define STR(dst) do { if (!v) goto needv; (dst) = v; i++; } while (0)
        if (OPT("-h", "--help")) { help(stdout); exit(GF_EXIT_OK); }
        else if (OPT("--hellaswag", "--hellaswag")) STR(o->hellaswag);
        else if (OPT("--vs", "--vs")) STR(o->base);
        else if (OPT("--tasks", "--hellaswag-tasks")) { INT(1, GF_EVAL_MAX_TASKS, &o->n_tasks); o->tasks_given = 1; }
        else if (OPT("--all-tasks", "--all-tasks")) o->all_tasks = 1;
        else if (OPT("-c", "--ctx-size")) INT(4, 1 << 20, &o->n_ctx);
        else if (OPT("-b", "--batch-size")) INT(1, 1 << 20, &o->n_batch);
        else if (OPT("-t", "--threads")) INT(1, 1024, &o->threads);
        else if (OPT("--kv-type", "--kv-type")) {
            if (v && strcmp(v, "f16") == 0) o->kv_type = GF_TYPE_F16;
            else if (v && strcmp(v, "f32") == 0) o->kv_type = GF_TYPE_F32;
            else { fprintf(stderr, "gguf-forge eval: --kv-type wants f16 or f32\n"); return -1; }
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "gguf-forge eval: unknown option '%s'\n", a);
            help(stderr);
            return -1;
        } else if (!o->model) o->model = a;
        else { fprintf(stderr, "gguf-forge eval: unexpected argument '%s'\n", a); return -1; }
#undef OPT
#undef INT
#undef STR
        continue;
    needv:
        fprintf(stderr, "gguf-forge eval: %s needs a value\n", a);
        return -1;
    }
    if (!o->model || !o->hellaswag) {
        fprintf(stderr, "gguf-forge eval: a model and --hellaswag FILE are required\n");
        help(stderr);
        return -1;
    }
    if (o->all_tasks && o->tasks_given) {
        fprintf(stderr, "gguf-forge eval: --all-tasks and --tasks exclude each other\n");
        return -1;
    }
    return 0;
}

static gf_status scorer_open(scorer *s, const char *path, const eval_opts *o, gf_err *err) {
    GF_TRY(gf_cli_model_open("eval", path, &s->m, err));
    gf_status st = gf_vocab_from_gguf(s->m->gguf, &s->vocab, err);
    if (!st) st = gf_tokenizer_init(s->vocab, &s->tok, err);
    if (st) {
        gf_err_prefix(err, "%s", path);
        return st;
    }
    const gf_eval_params p = {.n_ctx = o->n_ctx, .n_batch = o->n_batch, .kv_type = o->kv_type};
    return gf_eval_init(&s->ev, s->m, s->tok, &p, err);
}

static void scorer_close(scorer *s) {
    gf_eval_free(s->ev);
    gf_tokenizer_free(s->tok);
    gf_vocab_free(s->vocab);
    gf_model_free(s->m);
}

/* The tasks to score, as indices into the file. */
static gf_status choose_tasks(const eval_opts *o, int64_t n_file, int64_t **order, int64_t *n, gf_err *err) {
    const int in_order = o->all_tasks || (o->base && !o->tasks_given);
    *n = in_order ? n_file : (o->n_tasks < n_file ? o->n_tasks : n_file);
    *order = malloc((size_t)*n * sizeof **order + 1);
    GF_FAIL_IF(!*order, err, GF_E_NOMEM, "eval: out of memory for %lld tasks", (long long)*n);
    if (!in_order) return gf_eval_draw(n_file, *n, *order, err);
    for (int64_t i = 0; i < *n; i++) (*order)[i] = i;
    return GF_OK;
}

static void print_final(const char *what, int64_t right, int64_t n) {
    double acc, se;
    gf_eval_accuracy(right, n, &acc, &se);
    printf("%s: acc_norm = %.4f +/- %.4f %% over %lld tasks, 95 %% CI [%.2f, %.2f] %%\n", what, 100.0 * acc,
           100.0 * se, (long long)n, 100.0 * (acc - Z95 * se), 100.0 * (acc + Z95 * se));
}

static void print_paired(const eval_opts *o, const uint8_t *a, const uint8_t *b, int64_t n) {
    gf_eval_paired pr;
    gf_eval_pair(a, b, n, &pr);
    printf("\n====== paired comparison on the same %lld tasks ======\n", (long long)n);
    printf("acc_norm %-40s %8.4f %%\n", o->model, 100.0 * pr.acc_a);
    printf("acc_norm %-40s %8.4f %%\n", o->base, 100.0 * pr.acc_b);
    printf("difference (model - base): %+.4f +/- %.4f %% (paired standard error), 95 %% CI [%+.2f, %+.2f] %%\n",
           100.0 * pr.diff, 100.0 * pr.diff_se, 100.0 * (pr.diff - Z95 * pr.diff_se),
           100.0 * (pr.diff + Z95 * pr.diff_se));
    printf("agreement: %.4f %% (both right %lld, both wrong %lld, only model right %lld, only base right %lld)\n",
           100.0 * pr.agree, (long long)pr.both, (long long)pr.neither, (long long)pr.a_only, (long long)pr.b_only);
}

/* Scores the tasks in order with the model (and the base), printing the running lines. */
static gf_status run_tasks(const eval_opts *o, const gf_hs_file *f, const int64_t *order, int64_t n, scorer *sm,
                           scorer *sb, uint8_t *ra, uint8_t *rb, gf_err *err) {
    int64_t right_a = 0, right_b = 0, n_tokens = 0;
    printf("\ntask\tacc_norm%s\n", sb->ev ? "\tbase_acc_norm" : "");
    const double t0 = gf_time_now();
    for (int64_t i = 0; i < n; i++) {
        const gf_hs_task *t = &f->tasks[order[i]];
        gf_eval_result r;
        gf_status st = gf_eval_hellaswag(sm->ev, t, &r, err);
        if (!st && sb->ev) {
            gf_eval_result rbase;
            st = gf_eval_hellaswag(sb->ev, t, &rbase, err);
            rb[i] = rbase.pred == t->gold;
            right_b += rb[i];
        }
        if (st) {
            gf_err_prefix(err, "%s: task %lld (line %lld)", o->hellaswag, (long long)order[i] + 1,
                          (long long)order[i] * 6 + 1);
            return st;
        }
        ra[i] = r.pred == t->gold;
        right_a += ra[i];
        n_tokens += r.n_tokens;
        if (sb->ev) printf("%lld\t%.8lf\t%.8lf\n", (long long)i + 1, 100.0 * (double)right_a / (double)(i + 1),
                           100.0 * (double)right_b / (double)(i + 1));
        else printf("%lld\t%.8lf\n", (long long)i + 1, 100.0 * (double)right_a / (double)(i + 1));
        fflush(stdout);
    }
    const double dt = gf_time_now() - t0;
    printf("\n");
    print_final(sb->ev ? "Final estimate (model)" : "Final estimate", right_a, n);
    if (sb->ev) print_final("Final estimate (base) ", right_b, n);
    fprintf(stderr, "eval: %lld tasks (%lld tokens%s) in %.2f s, %.2f tasks/s\n", (long long)n, (long long)n_tokens,
            sb->ev ? " per model" : "", dt, (double)n / dt);
    printf("tasks/s: %.2f\n", (double)n / dt);
    if (sb->ev) print_paired(o, ra, rb, n);
    return GF_OK;
}

int gf_cmd_eval(int argc, char **argv) {
    eval_opts o = {.n_ctx = 512, .n_batch = 2048, .n_tasks = DEFAULT_TASKS, .kv_type = GF_TYPE_F16};
    if (parse_opts(argc, argv, &o)) return GF_EXIT_USAGE;
    if (o.threads > 0) omp_set_num_threads((int)o.threads);

    gf_err err = {0};
    gf_status st = GF_OK;
    scorer sm = {0}, sb = {0};
    gf_hs_file f = {0};
    char *text = NULL;
    size_t text_len = 0;
    int64_t *order = NULL, n = 0;
    uint8_t *ra = NULL, *rb = NULL;

    /* the file first: a bad task file fails before the models load */
    if ((st = gf_read_text(o.hellaswag, MAX_TASK_BYTES, &text, &text_len, &err))) goto done;
    if ((st = gf_hs_parse(o.hellaswag, text, text_len, &f, &err))) goto done;
    if ((st = choose_tasks(&o, f.n_tasks, &order, &n, &err))) goto done;
    if ((st = scorer_open(&sm, o.model, &o, &err))) goto done;
    if (o.base && (st = scorer_open(&sb, o.base, &o, &err))) goto done;
    ra = calloc((size_t)n + 1, 1);
    rb = calloc((size_t)n + 1, 1);
    if (!ra || !rb) { st = gf_errf(&err, GF_E_NOMEM, "eval: out of memory"); goto done; }
    fprintf(stderr, "eval: %s: %lld tasks, scoring %lld %s, -c %ld, %d threads, kernels %s%s%s\n", o.hellaswag,
            (long long)f.n_tasks, (long long)n,
            o.all_tasks || (o.base && !o.tasks_given) ? "in file order" : "drawn as llama-perplexity draws them",
            o.n_ctx, omp_get_max_threads(), gf_kernels_name(sm.m->ks), o.base ? ", base " : "", o.base ? o.base : "");
    st = run_tasks(&o, &f, order, n, &sm, &sb, ra, rb, &err);

done:
    if (st) fprintf(stderr, "gguf-forge eval: %s\n", err.msg);
    free(ra);
    free(rb);
    free(order);
    gf_hs_free(&f);
    free(text);
    scorer_close(&sb);
    scorer_close(&sm);
    return gf_exit_code(st);
}
