/*
 * test_eval.c - `gguf-forge eval`'s pieces: std::mt19937 and libstdc++'s
 * uniform_int_distribution (known outputs, and the task order of
 * reference-outputs/eval/draw-1000.txt, written by a C++ program), the
 * HellaSwag parser on good and bad buffers, the accuracy and paired
 * statistics on hand-counted cases, the gzip text reader, and HellaSwag
 * acc_norm on qwen2-tiny F32 and Q4_0 against llama-perplexity:
 *   - ../shared/oracle/hellaswag.txt: the final acc_norm of 400 and 1000 drawn tasks;
 *   - reference-outputs/eval/llama-hellaswag-*-400.txt: every running line of 400 tasks.
 * Each model scores the 1000 tasks once; the drawn runs are read off those results.
 * Under a sanitizer (GF_SANITIZED) only the 400 drawn tasks are scored and only
 * the 400-task rows compared: make test compares all four.
 * Multiple choice: the file reference-outputs/eval/mc_write.py makes from the first
 * 300 HellaSwag tasks (2 to 4 answers per task), written here byte for byte (its
 * SHA-256 checked), against llama-perplexity --multiple-choice on it (all tasks and
 * 120 drawn: every running line and the final line); its parser on bad records.
 * Winogrande: likewise with wg_write.py's CSV (299 tasks read, as llama.cpp reads
 * them): every pick, every score (NaN where llama.cpp's is) and the final line.
 * A task whose two best answers are a near tie (NEAR_TIE) may be picked otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../common/rand.h"
#include "../common/textfile.h"
#include "../engine/eval.h"
#include "../engine/kernels.h"
#include "../formats/vocab.h"
#include "check.h"
#include "sha256.h"

#define REF "reference-outputs/eval/"
#define N_FILE_TASKS 1000

/* ---------------------------------------------------------------- mt19937 and the draw */

static void test_mt19937(void) {
    gf_mt19937 g;
    gf_mt_seed(&g, 5489); /* the C++ standard: the 10000th output of a default mt19937 is 4123659995 */
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = gf_mt_next(&g);
    CHECK(v == 4123659995u, "10000th output %u", v);
    gf_mt_seed(&g, 1);
    v = gf_mt_next(&g);
    CHECK(v == 1791095845u, "first output of seed 1: %u", v);
}

/* draw-1000.txt and draw-100000-20.txt: "draw<TAB>position<TAB>task" per line */
static void check_draw_file(const char *path, int64_t total, int swap) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s: missing (reference-outputs/eval/draw.sh writes it)", path);
    if (!f) return;
    long d, pos, task;
    int64_t n = 0, bad = 0, order[1000];
    long want[1000];
    while (n < 1000 && fscanf(f, "%ld %ld %ld", &d, &pos, &task) == 3) want[n++] = task;
    fclose(f);
    gf_err err = {0};
    CHECK((swap ? gf_eval_draw_swap : gf_eval_draw)(total, n, order, &err) == GF_OK, "%s", err.msg);
    for (int64_t i = 0; i < n; i++) bad += order[i] != want[i];
    CHECK(n > 0 && bad == 0, "%s: %lld of %lld draws differ", path, (long long)bad, (long long)n);
}

static void test_draw(void) {
    check_draw_file(REF "draw-1000.txt", 1000, 0);
    check_draw_file(REF "draw-100000-20.txt", 100000, 0);
    check_draw_file(REF "draw-swap-1000.txt", 1000, 1);
    check_draw_file(REF "draw-swap-1267-300.txt", 1267, 1);
    gf_err err = {0};
    int64_t o[2];
    CHECK(gf_eval_draw(1, 2, o, &err) == GF_E_USAGE, "drawing 2 of 1 task");
}

/* ---------------------------------------------------------------- parser */

static gf_status parse(const char *s, gf_hs_file *f, gf_err *err) { return gf_hs_parse("t.txt", s, strlen(s), f, err); }

static void test_parse(void) {
    gf_hs_file f;
    gf_err err = {0};
    const char *two = "A man: he\n3\nruns.\nwalks.\nsits.\nflies.\nB: she\r\n0\r\na\r\nb\r\nc\r\nd"; /* no final \n */
    CHECK(parse(two, &f, &err) == GF_OK, "%s", err.msg);
    CHECK(f.n_tasks == 2 && f.tasks[0].gold == 3 && f.tasks[1].gold == 0, "%lld tasks", (long long)f.n_tasks);
    CHECK(f.n_tasks == 2 && !strcmp(f.tasks[0].ctx, "A man: he") && !strcmp(f.tasks[0].ending[3], "flies.") &&
          !strcmp(f.tasks[1].ending[3], "d"), "task texts");
    gf_hs_free(&f);

    struct { const char *text, *want; } bad[] = {
        {"c\n1\na\nb\nc\nd\nc2\n1\n", "task 2 is truncated"},
        {"c\n4\na\nb\nc\nd\n", "task 1 (line 2): the gold ending '4'"},
        {"c\n1\na\nb\nc\nd\nc\n-1\na\nb\nc\nd\n", "task 2 (line 8)"},
        {"c\n1 \na\nb\nc\nd\n", "not one of 0..3"},
        {"", "no HellaSwag tasks"},
        {"c\n1\na\nb\0\nc\nd\n", "NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i].text);
        if (strstr(bad[i].want, "NUL")) len = 12;
        memset(&err, 0, sizeof err);
        gf_status st = gf_hs_parse("t.txt", bad[i].text, len, &f, &err);
        CHECK(st == GF_E_FORMAT && strstr(err.msg, "t.txt") && strstr(err.msg, bad[i].want), "case %zu: %s", i,
              err.msg);
        CHECK(f.tasks == NULL && f.text == NULL, "case %zu leaves nothing allocated", i);
    }
}

/* ---------------------------------------------------------------- statistics */

static int close_to(double a, double b) { return fabs(a - b) < 1e-12; }

static void test_stats(void) {
    /* 10 tasks: both right 5, only a 3, only b 1, neither 1.  diff = (3-1)/10 = 0.2;
     * var = ((3+1)/10 - 0.2^2)/10 = 0.036, se = 0.18973665961010275; agreement 0.6. */
    const uint8_t a[10] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, b[10] = {1, 1, 1, 1, 1, 0, 0, 0, 1, 0};
    gf_eval_paired p;
    gf_eval_pair(a, b, 10, &p);
    CHECK(p.both == 5 && p.a_only == 3 && p.b_only == 1 && p.neither == 1, "counts %lld %lld %lld %lld",
          (long long)p.both, (long long)p.a_only, (long long)p.b_only, (long long)p.neither);
    CHECK(close_to(p.acc_a, 0.8) && close_to(p.acc_b, 0.6) && close_to(p.diff, 0.2), "acc %g %g diff %g", p.acc_a,
          p.acc_b, p.diff);
    CHECK(close_to(p.diff_se, 0.18973665961010275), "paired se %.17g", p.diff_se);
    CHECK(close_to(p.agree, 0.6), "agreement %g", p.agree);
    gf_eval_pair(a, a, 10, &p); /* a model against itself: no discordant task, no error */
    CHECK(p.diff == 0 && p.diff_se == 0 && p.agree == 1, "self: diff %g se %g agree %g", p.diff, p.diff_se, p.agree);

    double acc, se; /* 255 of 1000: sqrt(0.255*0.745/999) */
    gf_eval_accuracy(255, 1000, &acc, &se);
    CHECK(close_to(acc, 0.255) && close_to(se, 0.013790038620872865), "acc %g se %.17g", acc, se);
}

/* ---------------------------------------------------------------- gzip */

static int write_gz(const char *path, const char *mode, const char *text, size_t len) {
    gzFile z = gzopen(path, mode);
    if (!z) return 0;
    int ok = gzwrite(z, text, (unsigned)len) == (int)len;
    return gzclose(z) == Z_OK && ok;
}

static void test_gzip(void) {
    char dir[] = "/tmp/gf-test-eval-XXXXXX", path[256], *out = NULL;
    size_t len = 0;
    gf_err err = {0};
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/text.txt.gz", dir);
    const char *text = "The cat sat on the mat.\nA second line.\n";
    CHECK(write_gz(path, "wb", text, strlen(text)) && write_gz(path, "ab", text, 7), "writing %s", path);
    CHECK(gf_read_text(path, 1 << 20, &out, &len, &err) == GF_OK, "%s", err.msg);
    CHECK(out && len == strlen(text) + 7 && !memcmp(out, text, strlen(text)) && !memcmp(out + strlen(text), text, 7),
          "two gzip members read back (%zu bytes)", len);
    free(out);
    out = NULL;

    /* 40 KB of text in a few hundred bytes: refused past the limit on the text, not the file */
    snprintf(path, sizeof path, "%s/big.txt.gz", dir);
    char *big = calloc(40000, 1);
    if (big) memset(big, 'a', 40000);
    CHECK(big && write_gz(path, "wb", big, 40000), "writing %s", path);
    CHECK(gf_read_text(path, 10000, &out, &len, &err) == GF_E_FORMAT && strstr(err.msg, "decompressed") && !out,
          "over the size limit: %s", err.msg);
    CHECK(gf_read_text(path, 40000, &out, &len, &err) == GF_OK && len == 40000 && big && !memcmp(out, big, len),
          "at the size limit: %s", err.msg);
    free(out);
    out = NULL;
    free(big);
    remove(path);
    snprintf(path, sizeof path, "%s/text.txt.gz", dir);

    /* truncated and corrupt gzip: the file named, no text returned */
    FILE *f = fopen(path, "rb");
    unsigned char buf[512];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(gf_text_from_buffer("cut.gz", buf, n / 2, 1 << 20, &out, &len, &err) == GF_E_FORMAT &&
          strstr(err.msg, "cut.gz") && out == NULL, "truncated: %s", err.msg);
    buf[12] ^= 0xff;
    CHECK(gf_text_from_buffer("bad.gz", buf, n, 1 << 20, &out, &len, &err) == GF_E_FORMAT && out == NULL,
          "corrupt: %s", err.msg);
    /* plain text is read as it is, even when named .gz */
    snprintf(path, sizeof path, "%s/plain.gz", dir);
    f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
    CHECK(gf_read_text(path, 1 << 20, &out, &len, &err) == GF_OK && len == strlen(text) && !strcmp(out, text),
          "plain: %s", err.msg);
    free(out);
    remove(path);
    snprintf(path, sizeof path, "%s/text.txt.gz", dir);
    remove(path);
    rmdir(dir);
}


/* ---------------------------------------------------------------- multiple choice */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_str(bytes *b, const char *s) {
    put_u32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}

/* mc_write.py's file: task i keeps 2 + i % 3 endings (gold and the first wrong ones, in
 * file order), label 1 on the gold one; mc2 repeats mc1. */
static void mc_write(const gf_hs_file *hs, int n, bytes *out) {
    bytes body = {0};
    uint32_t *pos = calloc((size_t)n, 4);
    for (int i = 0; i < n && pos; i++) {
        const gf_hs_task *t = &hs->tasks[i];
        int keep[4], k = 0, want = 2 + i % 3;
        /* the gold ending and the first want-1 wrong ones, in file order */
        for (int j = 0, wrong = 0; j < 4; j++)
            if (j == t->gold || wrong++ < want - 1) keep[k++] = j;
        pos[i] = (uint32_t)(4 + 4 * n + body.len);
        put_str(&body, t->ctx);
        for (int m = 0; m < 2; m++) {
            put_u32(&body, (uint32_t)k);
            for (int j = 0; j < k; j++) put_str(&body, t->ending[keep[j]]);
            for (int j = 0; j < k; j++) put_u32(&body, keep[j] == t->gold);
        }
    }
    put_u32(out, (uint32_t)n);
    put(out, pos, 4 * (size_t)n);
    put(out, body.p, body.len);
    free(pos);
    free(body.p);
}

static void test_mc_parser(void) {
    bytes b = {0};
    gf_err err = {0};
    gf_mc_file f;
    gf_mc_task t;
    size_t next;
    put_u32(&b, 1);
    put_u32(&b, 8);
    put_str(&b, "Q?");
    put_u32(&b, 2);
    put_str(&b, "yes");
    put_str(&b, "no");
    put_u32(&b, 0);
    put_u32(&b, 1);
    put_u32(&b, 0); /* mc2: none */
    CHECK(gf_mc_open("m.bin", b.p, b.len, &f, &err) == GF_OK && f.n_tasks == 1, "%s", err.msg);
    CHECK(gf_mc_task_at(&f, f.pos[0], 1, &t, &next, &err) == GF_OK && t.n_answers == 2 && t.label[1] == 1 &&
          t.answer_len[0] == 3 && !memcmp(t.answer[1], "no", 2) && next == b.len, "%s", err.msg);
    /* every truncation of the record is refused, naming the file and the task */
    int bad = 0;
    for (size_t cut = 8; cut < b.len; cut++) {
        gf_mc_file g;
        if (gf_mc_open("m.bin", b.p, cut, &g, &err) != GF_OK) { bad++; continue; }
        memset(&err, 0, sizeof err);
        if (gf_mc_task_at(&g, 8, 1, &t, &next, &err) != GF_E_FORMAT || !strstr(err.msg, "m.bin") ||
            !strstr(err.msg, "task 1"))
            bad++;
        gf_mc_free(&g);
    }
    CHECK(bad == 0, "%d truncations not refused with the task named (%s)", bad, err.msg);
    CHECK(gf_mc_task_at(&f, b.len + 5, 1, &t, &next, &err) == GF_E_FORMAT && strstr(err.msg, "past the end"),
          "an offset past the end: %s", err.msg);
    gf_mc_free(&f);
    ((uint32_t *)b.p)[0] = 0;
    CHECK(gf_mc_open("m.bin", b.p, b.len, &f, &err) == GF_E_FORMAT && strstr(err.msg, "0 tasks"), "%s", err.msg);
    ((uint32_t *)b.p)[0] = 1000; /* a table past the end */
    CHECK(gf_mc_open("m.bin", b.p, b.len, &f, &err) == GF_E_FORMAT && strstr(err.msg, "task offsets"), "%s", err.msg);
    ((uint32_t *)b.p)[0] = 1;
    const uint32_t many = 101;
    memcpy(b.p + 14, &many, 4); /* the mc1 count, after the offset table and "Q?" */
    CHECK(gf_mc_open("m.bin", b.p, b.len, &f, &err) == GF_OK && gf_mc_task_at(&f, 8, 1, &t, &next, &err) == GF_E_FORMAT &&
          strstr(err.msg, "101 mc1 answers"), "%s", err.msg);
    gf_mc_free(&f);
    free(b.p);
}

/* right[i] for the n tasks of the multiple-choice file mc (all read in order). */
static int mc_score_all(const char *model_rel, const gf_mc_file *mc, uint8_t *right, double *margin) {
    char mp[512];
    if (!check_shared_path(mp, sizeof mp, model_rel)) return 0;
    gf_err err = {0};
    gf_model *m = NULL;
    gf_vocab *v = NULL;
    gf_tokenizer *t = NULL;
    gf_eval *e = NULL;
    const gf_eval_params p = {.n_ctx = 512, .n_batch = 2048, .kv_type = GF_TYPE_F16};
    int ok = gf_model_open(mp, gf_kernels_detect(), &m, &err) == GF_OK &&
             gf_vocab_from_gguf(m->gguf, &v, &err) == GF_OK && gf_tokenizer_init(v, &t, &err) == GF_OK &&
             gf_eval_init(&e, m, t, &p, &err) == GF_OK;
    size_t off = mc->first;
    int64_t i = 0;
    for (; ok && i < mc->n_tasks; i++) {
        gf_mc_task task;
        gf_eval_result r;
        ok = mc->pos[i] == off && gf_mc_task_at(mc, off, i + 1, &task, &off, &err) == GF_OK &&
             gf_eval_multiple_choice(e, &task, &r, &err) == GF_OK;
        right[i] = ok && task.label[r.pred] == 1;
        margin[i] = 1e30;
        for (int k = 0; ok && k < task.n_answers && k < 4; k++)
            if (k != r.pred && r.lp[r.pred] - r.lp[k] < margin[i]) margin[i] = r.lp[r.pred] - r.lp[k];
    }
    CHECK(ok, "%s: task %lld: %s", model_rel, (long long)i, err.msg);
    gf_eval_free(e);
    gf_tokenizer_free(t);
    gf_vocab_free(v);
    gf_model_free(m);
    return ok;
}

/* Tasks whose two best answers are closer than this (mean log-probability per token,
 * nats) may be picked differently by llama.cpp: the engines' logits differ by float
 * rounding, and on qwen2-tiny Q4_0 this engine's own scalar and AVX2 kernels already
 * move such a score by 1.6e-3 (multiple-choice task 55: 2.7e-4 apart, llama.cpp
 * picks the other answer).  At most MAX_TIES such tasks per run. */
#define NEAR_TIE 2e-3
#define MAX_TIES 1

/* Which tasks llama-perplexity got right, from its running lines "N<TAB>acc %..."
 * (the count right so far is acc * N / 100); -1 when the file has not n lines. */
static int llama_rights(const char *path, int64_t n, uint8_t *right) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s missing (its reference-outputs/eval/run_llama_*.sh writes it)", path);
    if (!f) return -1;
    char line[512];
    int64_t i = 0, prev = 0;
    while (fgets(line, sizeof line, f) && i < n) {
        long k;
        double acc;
        if (sscanf(line, "%ld\t%lf", &k, &acc) != 2 || !strchr(line, '\t') || k != i + 1) continue;
        const int64_t c = llround(acc * (double)k / 100.0);
        right[i++] = (uint8_t)(c - prev);
        prev = c;
    }
    fclose(f);
    return i == n ? 0 : -1;
}

/* Our picks on the tasks order[0..n) against llama-perplexity's lines in path:
 * every difference a near tie, at most MAX_TIES of them.  Returns the differences. */
static int64_t compare_rights(const char *path, const uint8_t *right, const double *margin, const int64_t *order,
                              int64_t n) {
    uint8_t *ll = malloc((size_t)n);
    int64_t differ = 0, wide = 0;
    if (!ll || llama_rights(path, n, ll)) {
        CHECK(0, "%s: cannot read %lld running lines", path, (long long)n);
        free(ll);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (ll[i] == right[order[i]]) continue;
        differ++;
        if (margin[order[i]] >= NEAR_TIE) wide++;
        fprintf(stderr, "  %s: task %lld (file task %lld): llama.cpp %s, ours %s, our two best %.3g apart\n", path,
                (long long)i + 1, (long long)order[i] + 1, ll[i] ? "right" : "wrong", ll[i] ? "wrong" : "right",
                margin[order[i]]);
    }
    CHECK(wide == 0 && differ <= MAX_TIES, "%s: %lld tasks picked differently, %lld of them not near ties", path,
          (long long)differ, (long long)wide);
    free(ll);
    return differ;
}

/* The final line llama.cpp printed on stderr (its .log), as a string. */
static void check_final_line(const char *log, const char *want) {
    FILE *g = fopen(log, "r");
    char line[512];
    int finals = 0;
    while (g && fgets(line, sizeof line, g)) finals += strstr(line, want) != NULL;
    if (g) fclose(g);
    CHECK(finals == 1, "'%s' not in %s", want, log);
}

static void test_mc_llama_cpp(const gf_hs_file *hs) {
    bytes b = {0};
    mc_write(hs, 300, &b);
    uint8_t d[32];
    char hex[65], want[80] = "";
    sha256(b.p, b.len, d);
    sha256_hex(d, hex);
    FILE *f = fopen(REF "mc-300.sha256", "r");
    if (f && !fgets(want, sizeof want, f)) want[0] = 0;
    if (f) fclose(f);
    CHECK(!strncmp(hex, want, 64), "the multiple-choice file differs from mc_write.py's: %s, want %s", hex, want);
    gf_mc_file mc;
    gf_err err = {0};
    CHECK(gf_mc_open("mc-300.bin", b.p, b.len, &mc, &err) == GF_OK, "%s", err.msg);
    static const char *const stems[2] = {"qwen2-tiny-f32.f32", "qwen2-tiny-f32.q4_0"};
    for (int k = 0; k < 2 && mc.buf; k++) {
        char rel[96];
        uint8_t right[300];
        double margin[300];
        int64_t order[300];
        snprintf(rel, sizeof rel, "oracle/%s.gguf", stems[k]);
        if (!mc_score_all(rel, &mc, right, margin)) continue;
        for (int i = 0; i < 300; i++) order[i] = i;
        for (int run = 0; run < 2; run++) {
            const int n = run ? 120 : 300;
            char path[256], log[256], line[96];
            if (run) CHECK(gf_eval_draw_swap(300, 120, order, &err) == GF_OK, "%s", err.msg);
            snprintf(path, sizeof path, REF "llama-mc-%s-%d.txt", stems[k], run ? 120 : 0);
            snprintf(log, sizeof log, REF "llama-mc-%s-%d.log", stems[k], run ? 120 : 0);
            const int64_t differ = compare_rights(path, right, margin, order, n);
            int r = 0;
            for (int i = 0; i < n; i++) r += right[order[i]];
            if (differ == 0) { /* then the final line too, in llama.cpp's float arithmetic */
                const float p = (float)r / (float)n, sigma = sqrtf(p * (1 - p) / (float)(n - 1));
                snprintf(line, sizeof line, "Final result: %.4f +/- %.4f", 100.f * p, 100.f * sigma);
                check_final_line(log, line);
            }
            printf("  multiple choice, %-20s %3d tasks: %.4f %%, %lld picked otherwise than llama-perplexity%s\n",
                   stems[k], n, 100.0 * r / n, (long long)differ, differ ? " (near ties)" : " (final line equal)");
        }
    }
    gf_mc_free(&mc);
    free(b.p);
}


/* ---------------------------------------------------------------- Winogrande */

/* Worst score differences from llama-perplexity's 6-decimal prints (mean log-probability
 * per token): measured 2.8e-4 for F32, 1.55e-2 for Q4_0 (scores of two or three tokens
 * move most; the engines' Q4_0 logits differ by float rounding). */
#define WG_SCORE_TOL_F32 1e-3
#define WG_SCORE_TOL_Q4 3e-2

static void put_clean(bytes *b, const char *s, size_t n, int drop_commas) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != '"' && !(drop_commas && s[i] == ',')) put(b, &s[i], 1);
}

/* wg_write.py's CSV from the first n HellaSwag tasks. */
static void wg_write(const gf_hs_file *hs, int n, bytes *out) {
    const char *head = "index,sentence,option1,option2,answer\n";
    put(out, head, strlen(head));
    bytes sen = {0};
    for (int i = 0; i < n; i++) {
        const gf_hs_task *t = &hs->tasks[i];
        const char *a = t->ending[t->gold], *b = t->ending[(t->gold + 1) % 4];
        const char *sa = strchr(a, ' '), *sb = strchr(b, ' ');
        const size_t la = sa ? (size_t)(sa - a) : strlen(a), lb = sb ? (size_t)(sb - b) : strlen(b);
        sen.len = 0;
        put_clean(&sen, t->ctx, strlen(t->ctx), 0);
        if (i % 4 == 3) put(&sen, " _.", 3);
        else {
            put(&sen, " _ ", 3);
            if (sa) put_clean(&sen, sa + 1, strlen(sa + 1), 0);
        }
        const int quote = memchr(sen.p, ',', sen.len) != NULL, answer = 1 + i % 2;
        char num[32];
        snprintf(num, sizeof num, "%d,", i);
        put(out, num, strlen(num));
        if (quote) put(out, "\"", 1);
        put(out, sen.p, sen.len);
        if (quote) put(out, "\"", 1);
        put(out, ",", 1);
        put_clean(out, answer == 1 ? a : b, answer == 1 ? la : lb, 1);
        put(out, ",", 1);
        put_clean(out, answer == 1 ? b : a, answer == 1 ? lb : la, 1);
        snprintf(num, sizeof num, ",%d\n", answer);
        put(out, num, strlen(num));
    }
    free(sen.p);
}

static void test_wg_parser(void) {
    const char *csv = "index,sentence,option1,option2,answer\n"
                      "0,\"Ann, not Bo, won because _ ran fast.\",Ann,Bo, 2x\n"
                      "1,no blank here,a,b,1\n"
                      "2,A _ B,x,y,3\n"
                      "3,C _ D,p,q,1\n"
                      "4,never read _,a,b,1\n";
    gf_wg_file f;
    gf_err err = {0};
    CHECK(gf_wg_parse("w.csv", csv, strlen(csv), &f, &err) == GF_OK, "%s", err.msg);
    CHECK(f.n_tasks == 2 && f.n_skipped == 3 && f.first_skipped == 1 && f.last_line == 6, "%lld tasks, %lld skipped",
          (long long)f.n_tasks, (long long)f.n_skipped);
    if (f.n_tasks == 2) {
        CHECK(!strcmp(f.tasks[0].first, "Ann, not Bo, won because ") && !strcmp(f.tasks[0].second, " ran fast.") &&
              !strcmp(f.tasks[0].choice[1], "Bo") && f.tasks[0].answer == 2 && f.tasks[0].line == 2, "quoted: '%s' '%s'",
              f.tasks[0].first, f.tasks[0].second);
        CHECK(f.tasks[1].answer == 1 && f.tasks[1].line == 5 && !strcmp(f.tasks[1].second, " D"), "task 2");
    }
    gf_wg_free(&f);
    const char *none = "a,b,c\nd,e,f\n";
    CHECK(gf_wg_parse("w.csv", none, strlen(none), &f, &err) == GF_E_FORMAT && strstr(err.msg, "w.csv: not a Winogrande"),
          "%s", err.msg);
}

/* Our scores of the CSV's tasks against llama-perplexity's lines "N<TAB>acc<TAB>s1  s2  result  answer". */
static void test_wg_llama_cpp(const gf_hs_file *hs) {
    bytes b = {0};
    wg_write(hs, 300, &b);
    uint8_t d[32];
    char hex[65], want[80] = "";
    sha256(b.p, b.len, d);
    sha256_hex(d, hex);
    FILE *f = fopen(REF "wg-300.sha256", "r");
    if (f && !fgets(want, sizeof want, f)) want[0] = 0;
    if (f) fclose(f);
    CHECK(!strncmp(hex, want, 64), "the Winogrande file differs from wg_write.py's: %s, want %s", hex, want);
    gf_wg_file wg;
    gf_err err = {0};
    CHECK(gf_wg_parse("wg-300.csv", (const char *)b.p, b.len, &wg, &err) == GF_OK && wg.n_tasks == 299, "%s", err.msg);
    static const char *const stems[2] = {"qwen2-tiny-f32.f32", "qwen2-tiny-f32.q4_0"};
    for (int k = 0; k < 2 && wg.n_tasks == 299; k++) {
        char mp[512], rel[96];
        snprintf(rel, sizeof rel, "oracle/%s.gguf", stems[k]);
        if (!check_shared_path(mp, sizeof mp, rel)) continue;
        gf_model *m = NULL;
        gf_vocab *v = NULL;
        gf_tokenizer *t = NULL;
        gf_eval *e = NULL;
        const gf_eval_params p = {.n_ctx = 512, .n_batch = 2048, .kv_type = GF_TYPE_F16};
        int ok = gf_model_open(mp, gf_kernels_detect(), &m, &err) == GF_OK &&
                 gf_vocab_from_gguf(m->gguf, &v, &err) == GF_OK && gf_tokenizer_init(v, &t, &err) == GF_OK &&
                 gf_eval_init(&e, m, t, &p, &err) == GF_OK;
        double sc[299][2], margin[299];
        uint8_t right[299];
        for (int i = 0; ok && i < 299; i++) {
            gf_eval_result r;
            ok = gf_eval_winogrande(e, &wg.tasks[i], &r, &err) == GF_OK;
            sc[i][0] = r.lp[0];
            sc[i][1] = r.lp[1];
            right[i] = r.pred + 1 == wg.tasks[i].answer;
            margin[i] = fabs(r.lp[0] - r.lp[1]);
        }
        CHECK(ok, "%s: %s", rel, err.msg);
        gf_eval_free(e);
        gf_tokenizer_free(t);
        gf_vocab_free(v);
        gf_model_free(m);
        if (!ok) continue;
        for (int run = 0; run < 2; run++) {
            const int n = run ? 120 : 299;
            int64_t order[299];
            for (int i = 0; i < 299; i++) order[i] = i;
            if (run) CHECK(gf_eval_draw_swap(299, 120, order, &err) == GF_OK, "%s", err.msg);
            char path[256], line[512];
            snprintf(path, sizeof path, REF "llama-wg-%s-%d.txt", stems[k], run ? 120 : 0);
            const int64_t differ = compare_rights(path, right, margin, order, n);
            /* the scores themselves, NaN where llama.cpp has -nan */
            FILE *g = fopen(path, "r");
            double worst = 0;
            int i = 0, nan_bad = 0;
            while (g && fgets(line, sizeof line, g) && i < n) {
                long idx;
                double acc;
                char s1[32], s2[32];
                if (sscanf(line, "%ld\t%lf\t%31s %31s", &idx, &acc, s1, s2) != 4 || idx != i + 1) continue;
                const double *o = sc[order[i]];
                for (int c = 0; c < 2; c++) {
                    const char *ls = c ? s2 : s1;
                    if (strstr(ls, "nan")) nan_bad += !isnan(o[c]);
                    else if (isnan(o[c]) || fabs(o[c] - atof(ls)) > worst) worst = isnan(o[c]) ? 1e30 : fabs(o[c] - atof(ls));
                }
                i++;
            }
            if (g) fclose(g);
            const double tol = k ? WG_SCORE_TOL_Q4 : WG_SCORE_TOL_F32;
            CHECK(i == n && nan_bad == 0 && worst <= tol, "%s: %d lines, %d NaN missing, worst score difference %.3g",
                  path, i, nan_bad, worst);
            int r = 0;
            for (int j = 0; j < n; j++) r += right[order[j]];
            if (differ == 0) {
                char fin[96], log[256];
                const float pp = (float)r / (float)n, sigma = 100.f * sqrtf(pp * (1 - pp) / (float)(n - 1));
                snprintf(fin, sizeof fin, "Final Winogrande score(%d tasks): %.4lf +/- %.4lf", n, 100 * pp, sigma);
                snprintf(log, sizeof log, REF "llama-wg-%s-%d.log", stems[k], run ? 120 : 0);
                check_final_line(log, fin);
            }
            printf("  Winogrande, %-20s %3d tasks: %.4f %%, scores within %.2g of llama-perplexity's, %lld picked "
                   "otherwise%s\n", stems[k], n, 100.0 * r / n, worst, (long long)differ,
                   differ ? " (near ties)" : " (final line equal)");
        }
    }
    gf_wg_free(&wg);
    free(b.p);
}

/* ---------------------------------------------------------------- against llama-perplexity */

/* right[i] = 1 where model_rel's acc_norm pick of file task i is the gold ending, for
 * every task with need[i] (every task when need is NULL; the others get 0). */
static int score_all(const char *model_rel, const gf_hs_file *hs, const uint8_t *need, uint8_t *right) {
    char mp[512];
    if (!check_shared_path(mp, sizeof mp, model_rel)) return 0;
    gf_err err = {0};
    gf_model *m = NULL;
    gf_vocab *v = NULL;
    gf_tokenizer *t = NULL;
    gf_eval *e = NULL, *small = NULL;
    const gf_eval_params p = {.n_ctx = 512, .n_batch = 2048, .kv_type = GF_TYPE_F16};
    int ok = gf_model_open(mp, gf_kernels_detect(), &m, &err) == GF_OK &&
             gf_vocab_from_gguf(m->gguf, &v, &err) == GF_OK && gf_tokenizer_init(v, &t, &err) == GF_OK &&
             gf_eval_init(&e, m, t, &p, &err) == GF_OK;
    CHECK(ok, "%s: %s", model_rel, err.msg);
    int64_t i = 0;
    for (; ok && i < hs->n_tasks; i++) {
        right[i] = 0;
        if (need && !need[i]) continue;
        gf_eval_result r;
        ok = gf_eval_hellaswag(e, &hs->tasks[i], &r, &err) == GF_OK;
        right[i] = ok && r.pred == hs->tasks[i].gold;
    }
    CHECK(ok, "%s: task %lld: %s", model_rel, (long long)i, err.msg);
    /* a context too short for the task is refused, not truncated */
    const gf_eval_params tiny = {.n_ctx = 16, .n_batch = 16, .kv_type = GF_TYPE_F16};
    gf_eval_result r;
    if (ok && gf_eval_init(&small, m, t, &tiny, &err) == GF_OK)
        CHECK(gf_eval_hellaswag(small, &hs->tasks[0], &r, &err) == GF_E_VALUE && strstr(err.msg, "context of 16"),
              "-c 16: %s", err.msg);
    gf_eval_free(small);
    gf_eval_free(e);
    gf_tokenizer_free(t);
    gf_vocab_free(v);
    gf_model_free(m);
    return ok;
}

/* Every running line "N<TAB>acc" of llama-perplexity's 400 tasks. */
static void check_running_lines(const char *stem, const uint8_t *right, const int64_t *order, int64_t n) {
    char path[512], line[256], mine[64];
    snprintf(path, sizeof path, REF "llama-hellaswag-%s-%lld.txt", stem, (long long)n);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s missing (reference-outputs/eval/run_llama.sh writes it)", path);
    if (!f) return;
    int64_t i = 0, right_so_far = 0, differ = 0;
    while (fgets(line, sizeof line, f)) {
        long k;
        if (sscanf(line, "%ld\t", &k) != 1 || !strchr(line, '\t') || i >= n) continue;
        right_so_far += right[order[i]];
        snprintf(mine, sizeof mine, "%lld\t%.8lf\n", (long long)i + 1, 100.0 * (double)right_so_far / (double)(i + 1));
        if (strcmp(mine, line) && differ++ == 0) fprintf(stderr, "  %s: ours %s  llama.cpp %s", stem, mine, line);
        i++;
    }
    fclose(f);
    CHECK(i == n && differ == 0, "%s: %lld of %lld running lines differ from llama-perplexity's", stem,
          (long long)differ, (long long)i);
}

static void test_llama_cpp(void) {
    char hp[512], op[512], line[512];
    if (!check_shared_path(hp, sizeof hp, "data/hellaswag-val-1000.txt") ||
        !check_shared_path(op, sizeof op, "oracle/hellaswag.txt"))
        return;
    gf_err err = {0};
    char *text = NULL;
    size_t len = 0;
    gf_hs_file hs = {0};
    CHECK(gf_read_text(hp, 1 << 26, &text, &len, &err) == GF_OK && gf_hs_parse(hp, text, len, &hs, &err) == GF_OK,
          "%s", err.msg);
    CHECK(hs.n_tasks == N_FILE_TASKS, "%lld tasks", (long long)hs.n_tasks);
    FILE *f = fopen(op, "r");
    static uint8_t rights[2][N_FILE_TASKS], need[N_FILE_TASKS];
    int64_t order[N_FILE_TASKS];
    const long max_n = GF_SANITIZED ? 400 : N_FILE_TASKS;
    if (GF_SANITIZED && gf_eval_draw(N_FILE_TASKS, max_n, order, &err) == GF_OK)
        for (long i = 0; i < max_n; i++) need[order[i]] = 1;
    char scored[2][128] = {"", ""};
    int rows = 0;
    while (f && hs.n_tasks == N_FILE_TASKS && fgets(line, sizeof line, f)) {
        char file[128], want[32], got[32];
        long n;
        if (line[0] == '#' || sscanf(line, "%127s %ld %31s", file, &n, want) != 3 || n > max_n) continue;
        int slot = !strcmp(scored[0], file) ? 0 : !strcmp(scored[1], file) ? 1 : scored[0][0] ? 1 : 0;
        uint8_t *right = rights[slot];
        if (strcmp(scored[slot], file)) { /* each model scores the file once */
            char rel[160];
            snprintf(rel, sizeof rel, "oracle/%s", file);
            if (!score_all(rel, &hs, GF_SANITIZED ? need : NULL, right)) continue;
            snprintf(scored[slot], sizeof scored[slot], "%s", file);
        }
        CHECK(gf_eval_draw(N_FILE_TASKS, n, order, &err) == GF_OK, "%s", err.msg);
        int64_t r = 0;
        for (long i = 0; i < n; i++) r += right[order[i]];
        snprintf(got, sizeof got, "%.8lf", 100.0 * (double)r / (double)n);
        CHECK(!strcmp(got, want), "%s, %ld tasks: acc_norm %s, llama-perplexity %s", file, n, got, want);
        printf("  %-26s %4ld tasks: acc_norm %s (llama-perplexity %s)\n", file, n, got, want);
        rows++;
        if (n == 400) {
            char stem[128];
            snprintf(stem, sizeof stem, "%.*s", (int)(strlen(file) - 5), file); /* without ".gguf" */
            check_running_lines(stem, right, order, n);
        }
    }
    if (f) fclose(f);
    CHECK(rows == (GF_SANITIZED ? 2 : 4), "%d oracle rows compared", rows);
    if (hs.n_tasks == N_FILE_TASKS) test_mc_llama_cpp(&hs);
    if (hs.n_tasks == N_FILE_TASKS) test_wg_llama_cpp(&hs);
    gf_hs_free(&hs);
    free(text);
}

int main(void) {
    printf("eval: HellaSwag scoring and llama-perplexity's task draw (c392e50):\n");
    test_mt19937();
    test_draw();
    test_parse();
    test_stats();
    test_gzip();
    test_mc_parser();
    test_wg_parser();
    test_llama_cpp();
    return check_done("test_eval");
}
