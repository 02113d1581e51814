/*
 * eval.c - `gguf-forge eval MODEL.gguf --hellaswag FILE [...]`: task accuracy
 * with the bundled engine, printed as llama-perplexity prints it (a header
 * "task<TAB>acc_norm", then "N<TAB>running accuracy %" per task) so that
 * scripts written for llama.cpp read ours, then a final line with the accuracy
 * and its 95 % interval.  --vs BASE.gguf scores both files on the same tasks
 * and prints their paired comparison.  Options and printing only: the scoring
 * is engine/eval.c's, the file parsing formats/evalfile.c's.
 */
#include <math.h>
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
    const char *model, *base, *hellaswag, *mc, *wg;
    const char *file;          /* the task file given, whichever kind */
    long n_ctx, n_batch, threads, n_tasks;
    int all_tasks, tasks_given;
    gf_type kv_type;
} eval_opts;

/* The tasks to score: a parsed file of one kind, and which of its tasks, in order. */
enum { KIND_HS, KIND_MC, KIND_WG };
typedef struct {
    gf_hs_file hs;
    gf_mc_file mc;
    gf_wg_file wg;
    int kind;
    int64_t n;          /* tasks to score                                   */
    int64_t *idx;       /* (n) their indices in the file                   */
    size_t *off;        /* (n) multiple choice: each task's byte offset     */
} taskset;

/* One model and what scoring it needs. */
typedef struct {
    gf_model *m;
    gf_vocab *vocab;
    gf_tokenizer *tok;
    gf_eval *ev;
} scorer;

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge eval MODEL.gguf --hellaswag FILE | --multiple-choice FILE | --winogrande FILE\n"
               "                       [options]\n\n"
               "Task accuracy of MODEL, scored as llama-perplexity scores it: acc_norm, the ending of highest\n"
               "mean log-probability per token.  FILE may be gzip-compressed.\n\n"
               "options:\n"
               "      --hellaswag FILE  HellaSwag tasks in llama.cpp's text layout (6 lines per task)\n"
               "      --multiple-choice FILE  llama.cpp's binary multiple-choice file (ARC, MMLU, TruthfulQA)\n"
               "      --winogrande FILE  llama.cpp's Winogrande CSV (index,sentence,option1,option2,answer)\n"
               "      --tasks N         score N tasks drawn as llama-perplexity draws them (std::mt19937\n"
               "                        seeded 1); default: HellaSwag %d, the others all, --vs all\n"
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
        else if (OPT("--multiple-choice", "--multiple-choice")) STR(o->mc);
        else if (OPT("--winogrande", "--winogrande")) STR(o->wg);
        else if (OPT("--vs", "--vs")) STR(o->base);
        else if (OPT("--tasks", "--hellaswag-tasks") || OPT("--multiple-choice-tasks", "--winogrande-tasks")) {
            INT(1, GF_EVAL_MAX_TASKS, &o->n_tasks);
            o->tasks_given = 1;
        }
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
    if (!o->model || (!!o->hellaswag + !!o->mc + !!o->wg) != 1) {
        fprintf(stderr, "gguf-forge eval: a model and one of --hellaswag, --multiple-choice, --winogrande FILE are "
                        "required\n");
        help(stderr);
        return -1;
    }
    o->file = o->hellaswag ? o->hellaswag : o->mc ? o->mc : o->wg;
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
        if (strncmp(err->msg, path, strlen(path))) gf_err_prefix(err, "%s", path);
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

static int64_t n_file_tasks(const taskset *ts) {
    return ts->kind == KIND_MC ? ts->mc.n_tasks : ts->kind == KIND_WG ? ts->wg.n_tasks : ts->hs.n_tasks;
}

/* Which tasks, in order: llama-perplexity's draw, or every task in file order
 * (--all-tasks; --vs without --tasks; multiple choice without --tasks). */
static gf_status choose_tasks(const eval_opts *o, taskset *ts, int64_t n_file, gf_err *err) {
    const int other = ts->kind != KIND_HS; /* multiple choice, Winogrande: all unless fewer are asked for */
    const int in_order = o->all_tasks || (o->base && !o->tasks_given) || (other && !o->tasks_given) ||
                         (other && o->n_tasks >= n_file);
    ts->n = in_order ? n_file : (o->n_tasks < n_file ? o->n_tasks : n_file);
    ts->idx = malloc((size_t)ts->n * sizeof *ts->idx + 1);
    ts->off = malloc((size_t)ts->n * sizeof *ts->off + 1);
    GF_FAIL_IF(!ts->idx || !ts->off, err, GF_E_NOMEM, "eval: out of memory for %lld tasks", (long long)ts->n);
    if (in_order) {
        for (int64_t i = 0; i < ts->n; i++) ts->idx[i] = i;
        return GF_OK;
    }
    return other ? gf_eval_draw_swap(n_file, ts->n, ts->idx, err) : gf_eval_draw(n_file, ts->n, ts->idx, err);
}

/* Reads and checks the task file, then every task to be scored, before a model loads.
 * Multiple choice, as llama-perplexity: all tasks are read one after another from the
 * end of the offset table; drawn ones at their table offsets. */
static gf_status load_tasks(const eval_opts *o, taskset *ts, gf_err *err) {
    char *text = NULL;
    size_t len = 0;
    ts->kind = o->mc ? KIND_MC : o->wg ? KIND_WG : KIND_HS;
    GF_TRY(gf_read_text(o->file, MAX_TASK_BYTES, &text, &len, err));
    gf_status st = ts->kind == KIND_MC ? gf_mc_open(o->file, text, len, &ts->mc, err)
                 : ts->kind == KIND_WG ? gf_wg_parse(o->file, text, len, &ts->wg, err)
                                       : gf_hs_parse(o->file, text, len, &ts->hs, err);
    free(text);
    GF_TRY(st);
    if (ts->kind == KIND_WG && ts->wg.n_skipped)
        fprintf(stderr, "eval: warning: %s: %lld lines skipped as llama-perplexity skips them (the first: line %lld)\n",
                o->file, (long long)ts->wg.n_skipped, (long long)ts->wg.first_skipped);
    if (ts->kind == KIND_WG && ts->wg.last_line)
        fprintf(stderr, "eval: warning: %s: line %lld, the last, is not read (llama-perplexity does not read it)\n",
                o->file, (long long)ts->wg.last_line);
    GF_TRY(choose_tasks(o, ts, n_file_tasks(ts), err));
    if (ts->kind != KIND_MC) return GF_OK;
    const int in_file_order = ts->n == ts->mc.n_tasks && ts->idx[ts->n - 1] == ts->n - 1;
    size_t next = ts->mc.first;
    for (int64_t i = 0; i < ts->n; i++) {
        gf_mc_task t;
        ts->off[i] = in_file_order ? next : ts->mc.pos[ts->idx[i]];
        GF_TRY(gf_mc_task_at(&ts->mc, ts->off[i], ts->idx[i] + 1, &t, &next, err));
    }
    return GF_OK;
}

static void taskset_free(taskset *ts) {
    gf_hs_free(&ts->hs);
    gf_wg_free(&ts->wg);
    gf_mc_free(&ts->mc);
    free(ts->idx);
    free(ts->off);
}

/* Scores task i of the set with one scorer; *right is 1 when it picked a right answer. */
static gf_status score_one(const taskset *ts, int64_t i, scorer *s, int *right, gf_eval_result *res, gf_err *err) {
    gf_eval_result r;
    if (ts->kind == KIND_HS) {
        const gf_hs_task *t = &ts->hs.tasks[ts->idx[i]];
        GF_TRY(gf_eval_hellaswag(s->ev, t, &r, err));
        *right = r.pred == t->gold;
    } else if (ts->kind == KIND_WG) {
        const gf_wg_task *t = &ts->wg.tasks[ts->idx[i]];
        GF_TRY(gf_eval_winogrande(s->ev, t, &r, err));
        *right = r.pred + 1 == t->answer;
    } else {
        gf_mc_task t;
        size_t next;
        GF_TRY(gf_mc_task_at(&ts->mc, ts->off[i], ts->idx[i] + 1, &t, &next, err));
        GF_TRY(gf_eval_multiple_choice(s->ev, &t, &r, err));
        *right = t.label[r.pred] == 1;
    }
    *res = r;
    return GF_OK;
}

/* The message's place: the task and its line (HellaSwag, Winogrande) in the file. */
static void prefix_task(const eval_opts *o, const taskset *ts, int64_t i, gf_err *err) {
    const int64_t k = ts->idx[i];
    if (ts->kind == KIND_MC) gf_err_prefix(err, "%s: task %lld", o->file, (long long)k + 1);
    else gf_err_prefix(err, "%s: task %lld (line %lld)", o->file, (long long)k + 1,
                       ts->kind == KIND_WG ? (long long)ts->wg.tasks[k].line : (long long)k * 6 + 1);
}

/* One running line: llama-perplexity's, then the base's accuracy with --vs. */
static void print_line(const taskset *ts, int64_t i, int64_t right_a, int64_t right_b, const gf_eval_result *r,
                       int has_base) {
    const double acc = 100.0 * (double)right_a / (double)(i + 1);
    if (ts->kind == KIND_WG) {
        printf("%lld\t%.4lf", (long long)i + 1, acc);
        if (!has_base) printf("\t%10.6f  %10.6f  %d  %d", r->lp[0], r->lp[1], r->pred + 1, ts->wg.tasks[ts->idx[i]].answer);
    } else printf("%lld\t%.8lf", (long long)i + 1, acc);
    if (has_base) printf(ts->kind == KIND_WG ? "\t%.4lf" : "\t%.8lf", 100.0 * (double)right_b / (double)(i + 1));
    printf("\n");
}

static void print_final(const char *what, const char *metric, int64_t right, int64_t n) {
    double acc, se;
    gf_eval_accuracy(right, n, &acc, &se);
    const double lo = acc - Z95 * se, hi = acc + Z95 * se; /* the interval kept inside 0..100 % */
    printf("%s: %s = %.4f +/- %.4f %% over %lld tasks, 95 %% CI [%.2f, %.2f] %%\n", what, metric, 100.0 * acc,
           100.0 * se, (long long)n, 100.0 * (lo > 0 ? lo : 0), 100.0 * (hi < 1 ? hi : 1));
}

static void print_paired(const eval_opts *o, const uint8_t *a, const uint8_t *b, int64_t n) {
    gf_eval_paired pr;
    gf_eval_pair(a, b, n, &pr);
    printf("\n====== paired comparison on the same %lld tasks ======\n", (long long)n);
    printf("accuracy %-40s %8.4f %%\n", o->model, 100.0 * pr.acc_a);
    printf("accuracy %-40s %8.4f %%\n", o->base, 100.0 * pr.acc_b);
    printf("difference (model - base): %+.4f +/- %.4f %% (paired standard error), 95 %% CI [%+.2f, %+.2f] %%\n",
           100.0 * pr.diff, 100.0 * pr.diff_se, 100.0 * (pr.diff - Z95 * pr.diff_se),
           100.0 * (pr.diff + Z95 * pr.diff_se));
    printf("agreement: %.4f %% (both right %lld, both wrong %lld, only model right %lld, only base right %lld)\n",
           100.0 * pr.agree, (long long)pr.both, (long long)pr.neither, (long long)pr.a_only, (long long)pr.b_only);
}

/* Scores the tasks in order with the model (and the base), printing the running lines. */
static gf_status run_tasks(const eval_opts *o, const taskset *ts, scorer *sm, scorer *sb, uint8_t *ra, uint8_t *rb,
                           gf_err *err) {
    int64_t right_a = 0, right_b = 0, n_tokens = 0;
    const int64_t n = ts->n;
    if (ts->kind != KIND_WG) printf("\ntask\tacc_norm%s\n", sb->ev ? "\tbase_acc_norm" : "");
    else if (sb->ev) printf("\ntask\tacc\tbase_acc\n");
    const double t0 = gf_time_now();
    for (int64_t i = 0; i < n; i++) {
        int a = 0, b = 0;
        gf_eval_result r, rbase;
        gf_status st = score_one(ts, i, sm, &a, &r, err);
        if (!st && sb->ev) st = score_one(ts, i, sb, &b, &rbase, err);
        if (st) {
            prefix_task(o, ts, i, err);
            return st;
        }
        n_tokens += r.n_tokens;
        ra[i] = (uint8_t)a;
        rb[i] = (uint8_t)b;
        right_a += a;
        right_b += b;
        print_line(ts, i, right_a, right_b, &r, sb->ev != NULL);
        fflush(stdout);
    }
    const double dt = gf_time_now() - t0;
    printf("\n");
    if (ts->kind != KIND_HS && !sb->ev) { /* llama-perplexity's own final line, in its float arithmetic */
        const float p = 1.0f * (float)right_a / (float)n, sigma = n > 1 ? sqrtf(p * (1 - p) / (float)(n - 1)) : 0.0f;
        if (ts->kind == KIND_MC) printf("Final result: %.4f +/- %.4f\n", 100.f * p, 100.f * sigma);
        else printf("Final Winogrande score(%lld tasks): %.4lf +/- %.4lf\n", (long long)n, 100 * p, 100.f * sigma);
    }
    const char *metric = ts->kind == KIND_WG ? "acc" : "acc_norm";
    print_final(sb->ev ? "Final estimate (model)" : "Final estimate", metric, right_a, n);
    if (sb->ev) print_final("Final estimate (base) ", metric, right_b, n);
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
    taskset ts = {0};
    uint8_t *ra = NULL, *rb = NULL;

    /* the file first: a bad task file fails before the models load */
    if ((st = load_tasks(&o, &ts, &err))) goto done;
    if ((st = scorer_open(&sm, o.model, &o, &err))) goto done;
    if (o.base && (st = scorer_open(&sb, o.base, &o, &err))) goto done;
    ra = calloc((size_t)ts.n + 1, 1);
    rb = calloc((size_t)ts.n + 1, 1);
    if (!ra || !rb) { st = gf_errf(&err, GF_E_NOMEM, "eval: out of memory"); goto done; }
    const int64_t n_file = n_file_tasks(&ts);
    static const char *const kinds[] = {"HellaSwag", "multiple-choice", "Winogrande"};
    const int drawn = ts.n < n_file || (ts.n > 1 && ts.idx[ts.n - 1] != ts.n - 1);
    fprintf(stderr, "eval: %s: %lld %s tasks, scoring %lld %s, -c %ld, %d threads, kernels %s%s%s\n", o.file,
            (long long)n_file, kinds[ts.kind], (long long)ts.n,
            drawn ? "drawn as llama-perplexity draws them" : "in file order", o.n_ctx, omp_get_max_threads(),
            gf_kernels_name(sm.m->ks), o.base ? ", base " : "", o.base ? o.base : "");
    st = run_tasks(&o, &ts, &sm, &sb, ra, rb, &err);

done:
    if (st) fprintf(stderr, "gguf-forge eval: %s\n", err.msg);
    free(ra);
    free(rb);
    taskset_free(&ts);
    scorer_close(&sb);
    scorer_close(&sm);
    return gf_exit_code(st);
}
