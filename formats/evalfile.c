/*
 * evalfile.c - parsing the task files of `gguf-forge eval` from memory.
 * HellaSwag: llama.cpp's text layout, six lines per task (context, gold index,
 * four endings).  Stricter than llama-perplexity, which reads the gold index
 * with std::stoi and indexes past the endings on a bad one: here a gold index
 * must be one of 0..3, written alone on its line.  Multiple choice: llama.cpp's
 * binary layout, read through the bounded reader (common/reader.c) task by task.
 * Winogrande: llama.cpp's CSV, split as its load_winogrande_from_csv splits it.
 * Does not tokenize.
 */
#include "evalfile.h"

#include "../common/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HS_LINES (2 + GF_HS_ENDINGS) /* context, gold, endings */

/* The gold line: "0".."3", optionally followed by '\r' (a file with CRLF ends). */
static int parse_gold(const char *s) {
    if (s[0] < '0' || s[0] > '3') return -1;
    if (s[1] == '\0' || (s[1] == '\r' && s[2] == '\0')) return s[0] - '0';
    return -1;
}

gf_status gf_hs_parse(const char *name, const char *buf, size_t len, gf_hs_file *out, gf_err *err) {
    gf_status rc = GF_OK;
    memset(out, 0, sizeof *out);
    char **lines = NULL;
    const char *nul = memchr(buf, '\0', len);
    GF_FAIL_GOTO_IF(nul, err, GF_E_FORMAT, "%s: not a HellaSwag text file (a NUL byte at offset %zu)", name,
                    (size_t)(nul - buf));
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    if (len > 0 && buf[len - 1] != '\n') n_lines++; /* a last line without its newline */
    GF_FAIL_GOTO_IF(n_lines == 0, err, GF_E_FORMAT, "%s: empty: no HellaSwag tasks", name);
    GF_FAIL_GOTO_IF(n_lines / HS_LINES > (size_t)GF_EVAL_MAX_TASKS, err, GF_E_FORMAT,
                    "%s: %zu lines, more than %ld tasks", name, n_lines, GF_EVAL_MAX_TASKS);
    GF_FAIL_GOTO_IF(n_lines % HS_LINES, err, GF_E_FORMAT,
                    "%s: %zu lines, not a multiple of %d: task %zu is truncated (it has %zu of its %d lines)", name,
                    n_lines, HS_LINES, n_lines / HS_LINES + 1, n_lines % HS_LINES, HS_LINES);

    out->text = malloc(len + 1);
    lines = malloc(n_lines * sizeof *lines);
    out->n_tasks = (int64_t)(n_lines / HS_LINES);
    out->tasks = calloc((size_t)out->n_tasks, sizeof *out->tasks);
    GF_FAIL_GOTO_IF(!out->text || !lines || !out->tasks, err, GF_E_NOMEM, "%s: out of memory for %zu lines", name,
                    n_lines);
    memcpy(out->text, buf, len);
    out->text[len] = '\0';
    size_t k = 0;
    char *p = out->text;
    while (k < n_lines) {
        lines[k++] = p;
        char *e = strchr(p, '\n');
        if (!e) break;
        *e = '\0';
        p = e + 1;
    }
    for (int64_t t = 0; t < out->n_tasks; t++) {
        char **l = lines + t * HS_LINES;
        gf_hs_task *task = &out->tasks[t];
        task->ctx = l[0];
        task->gold = parse_gold(l[1]);
        GF_FAIL_GOTO_IF(task->gold < 0, err, GF_E_FORMAT,
                        "%s: task %lld (line %lld): the gold ending '%.20s' is not one of 0..%d", name,
                        (long long)t + 1, (long long)(t * HS_LINES + 2), l[1], GF_HS_ENDINGS - 1);
        for (int j = 0; j < GF_HS_ENDINGS; j++) task->ending[j] = l[2 + j];
    }
done:
    free(lines);
    if (rc) gf_hs_free(out);
    return rc;
}

void gf_hs_free(gf_hs_file *f) {
    if (!f) return;
    free(f->tasks);
    free(f->text);
    memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------- multiple choice */

gf_status gf_mc_open(const char *name, const void *buf, size_t len, gf_mc_file *out, gf_err *err) {
    memset(out, 0, sizeof *out);
    gf_reader r;
    gf_reader_init(&r, buf, len, name, err);
    uint32_t n = 0;
    GF_TRY(gf_reader_u32(&r, &n, "the task count"));
    GF_FAIL_IF(n == 0 || n > GF_EVAL_MAX_TASKS, err, GF_E_FORMAT,
               "%s: not a multiple-choice file: it says %u tasks (1..%ld)", name, n, GF_EVAL_MAX_TASKS);
    GF_TRY(gf_reader_need(&r, (uint64_t)n * 4, "the task offsets"));
    out->buf = malloc(len + 1);
    if (!out->buf) return gf_errf(err, GF_E_NOMEM, "%s: out of memory for %zu bytes", name, len);
    memcpy(out->buf, buf, len);
    out->name = name;
    out->len = len;
    out->n_tasks = n;
    out->pos = (const uint32_t *)(out->buf + 4); /* 4-byte aligned: malloc'd, offset 4 */
    out->first = 4 + (size_t)n * 4;
    return GF_OK;
}

void gf_mc_free(gf_mc_file *f) {
    if (!f) return;
    free(f->buf);
    memset(f, 0, sizeof *f);
}

/* A u32-length string left in place: *s points into the file. */
static gf_status mc_string(gf_reader *r, const char **s, size_t *n, const char *what) {
    uint32_t len;
    GF_TRY(gf_reader_u32(r, &len, what));
    GF_TRY(gf_reader_need(r, len, what));
    *s = (const char *)r->p + r->pos;
    *n = len;
    return gf_reader_skip(r, len, what);
}

/* One answer set (mc1 or mc2): count, strings, labels.  keep: store into t. */
static gf_status mc_answers(gf_reader *r, const char *which, int64_t task_no, gf_mc_task *t, int keep, gf_err *err) {
    char what[96];
    uint32_t n;
    snprintf(what, sizeof what, "task %lld: the %s answer count", (long long)task_no, which);
    GF_TRY(gf_reader_u32(r, &n, what));
    GF_FAIL_IF(n > GF_EVAL_MAX_CHOICES || (keep && n == 0), err, GF_E_FORMAT,
               "%s: task %lld: %u %s answers (1..%d)", r->name, (long long)task_no, n, which, GF_EVAL_MAX_CHOICES);
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        snprintf(what, sizeof what, "task %lld: %s answer %u", (long long)task_no, which, i + 1);
        GF_TRY(mc_string(r, &s, &len, what));
        if (keep) {
            t->answer[i] = s;
            t->answer_len[i] = len;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t l;
        snprintf(what, sizeof what, "task %lld: %s label %u", (long long)task_no, which, i + 1);
        GF_TRY(gf_reader_i32(r, &l, what));
        if (keep) t->label[i] = l;
    }
    if (keep) t->n_answers = (int)n;
    return GF_OK;
}

gf_status gf_mc_task_at(const gf_mc_file *f, uint64_t off, int64_t task_no, gf_mc_task *t, size_t *next, gf_err *err) {
    memset(t, 0, sizeof *t);
    GF_FAIL_IF(off > f->len, err, GF_E_FORMAT, "%s: task %lld starts at byte %llu, past the end of the file (%zu bytes)",
               f->name, (long long)task_no, (unsigned long long)off, f->len);
    gf_reader r;
    gf_reader_init(&r, f->buf, f->len, f->name, err);
    r.pos = off;
    char what[64];
    snprintf(what, sizeof what, "task %lld: the question", (long long)task_no);
    GF_TRY(mc_string(&r, &t->question, &t->question_len, what));
    GF_TRY(mc_answers(&r, "mc1", task_no, t, 1, err));
    GF_TRY(mc_answers(&r, "mc2", task_no, t, 0, err));
    *next = (size_t)r.pos;
    return GF_OK;
}

/* ---------------------------------------------------------------- Winogrande */

/* The answer field as `istringstream >> int` reads it: spaces, a sign, digits;
 * anything after is ignored.  -1 unless it reads 1 or 2. */
static int wg_answer(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == '\v' || s[i] == '\f')) i++;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i >= n || s[i] < '0' || s[i] > '9') return -1;
    long v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && v < 1000) v = v * 10 + (s[i++] - '0');
    if (neg) v = -v;
    return v == 1 || v == 2 ? (int)v : -1;
}

/* Copies n bytes to *dst as a NUL-terminated string at the pool's end. */
static char *pool_put(char **pool, const char *s, size_t n) {
    char *d = *pool;
    memcpy(d, s, n);
    d[n] = '\0';
    *pool += n + 1;
    return d;
}

/* One line (without its newline) into t, or 0 when llama.cpp would skip it. */
static int wg_line(const char *l, size_t n, char **pool, gf_wg_task *t) {
    size_t c[4];
    int k = 0, quoted = 0;
    for (size_t i = 0; i < n && k < 4; i++) {
        if (quoted) quoted = l[i] != '"';
        else if (l[i] == ',') c[k++] = i;
        else if (l[i] == '"') quoted = 1;
    }
    if (k != 4) return 0;
    const char *sen = l + c[0] + 1;
    size_t sn = c[1] - c[0] - 1;
    if (sn > 0 && sen[0] == '"') { /* substr(c0+2, c1-c0-3): the quotes dropped */
        if (sn < 2) return 0;
        sen++;
        sn -= 2;
    }
    const char *u = memchr(sen, '_', sn);
    if (!u) return 0;
    const int ans = wg_answer(l + c[3] + 1, n - c[3] - 1);
    if (ans < 0) return 0;
    t->first = pool_put(pool, sen, (size_t)(u - sen));
    t->second = pool_put(pool, u + 1, sn - (size_t)(u - sen) - 1);
    t->choice[0] = pool_put(pool, l + c[1] + 1, c[2] - c[1] - 1);
    t->choice[1] = pool_put(pool, l + c[2] + 1, c[3] - c[2] - 1);
    t->answer = ans;
    return 1;
}

gf_status gf_wg_parse(const char *name, const char *buf, size_t len, gf_wg_file *out, gf_err *err) {
    gf_status rc = GF_OK;
    memset(out, 0, sizeof *out);
    const char *nul = memchr(buf, '\0', len);
    GF_FAIL_GOTO_IF(nul, err, GF_E_FORMAT, "%s: not a Winogrande CSV file (a NUL byte at offset %zu)", name,
                    (size_t)(nul - buf));
    /* llama-perplexity's -f drops the text's last newline, and then reads only lines that end in one:
     * the file's last line is never read */
    if (len > 0 && buf[len - 1] == '\n') len--;
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    GF_FAIL_GOTO_IF(n_lines > (size_t)GF_EVAL_MAX_TASKS, err, GF_E_FORMAT, "%s: %zu lines, more than %ld tasks", name,
                    n_lines, GF_EVAL_MAX_TASKS);
    out->tasks = calloc(n_lines + 1, sizeof *out->tasks);
    out->text = malloc(len + 4 * n_lines + 1); /* each line's fields, each NUL-terminated */
    GF_FAIL_GOTO_IF(!out->tasks || !out->text, err, GF_E_NOMEM, "%s: out of memory for %zu lines", name, n_lines);
    char *pool = out->text;
    const char *p = buf;
    for (size_t ln = 1; ln <= n_lines; ln++) { /* only lines ending in '\n', as getline + eof() */
        const char *e = memchr(p, '\n', (size_t)(buf + len - p));
        gf_wg_task *t = &out->tasks[out->n_tasks];
        if (wg_line(p, (size_t)(e - p), &pool, t)) {
            t->line = (int64_t)ln;
            out->n_tasks++;
        } else {
            if (!out->n_skipped) out->first_skipped = (int64_t)ln;
            out->n_skipped++;
        }
        p = e + 1;
    }
    if (p < buf + len) out->last_line = (int64_t)n_lines + 1;
    GF_FAIL_GOTO_IF(out->n_tasks == 0, err, GF_E_FORMAT,
                    "%s: not a Winogrande CSV file: none of its %zu lines is \"index,sentence with _,option1,option2,"
                    "answer 1 or 2\" (as llama-perplexity, the last line is not read)", name, n_lines);
done:
    if (rc) gf_wg_free(out);
    return rc;
}

void gf_wg_free(gf_wg_file *f) {
    if (!f) return;
    free(f->tasks);
    free(f->text);
    memset(f, 0, sizeof *f);
}
