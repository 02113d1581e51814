/*
 * evalfile.c - parsing the task files of `gguf-forge eval` from memory.
 * HellaSwag: llama.cpp's text layout, six lines per task (context, gold index,
 * four endings).  Stricter than llama-perplexity, which reads the gold index
 * with std::stoi and indexes past the endings on a bad one: here a gold index
 * must be one of 0..3, written alone on its line.  Does not tokenize.
 */
#include "evalfile.h"

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
