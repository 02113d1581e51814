/*
 * fuzz_evalfile.c - bytes as an `eval` task file: the text reader (gzip or
 * plain, with its size cap), then all three parsers on what it returns: HellaSwag
 * (gold index 0..3, every line present), multiple choice (every task read one
 * after another and at its table offset; answer counts and lengths inside the
 * file) and Winogrande (answer 1 or 2, the strings present).
 * Rejections are fine; a crash, hang, leak or sanitizer report is a bug.
 */
#include <stdlib.h>
#include <string.h>

#include "../common/textfile.h"
#include "../formats/evalfile.h"
#include "fuzz_replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gf_err err;
    char *text = NULL;
    size_t len = 0;
    if (gf_text_from_buffer("tasks.txt", data, size, 1 << 20, &text, &len, &err) != GF_OK) return 0;
    gf_hs_file f;
    if (gf_hs_parse("tasks.txt", text, len, &f, &err) == GF_OK) {
        for (int64_t i = 0; i < f.n_tasks; i++) {
            const gf_hs_task *t = &f.tasks[i];
            if (t->gold < 0 || t->gold >= GF_HS_ENDINGS || !t->ctx) __builtin_trap();
            for (int j = 0; j < GF_HS_ENDINGS; j++)
                if (!t->ending[j] || strchr(t->ending[j], '\n')) __builtin_trap();
        }
        gf_hs_free(&f);
    }
    gf_mc_file mc;
    if (gf_mc_open("tasks.bin", text, len, &mc, &err) == GF_OK) {
        size_t off = mc.first;
        for (int64_t i = 0; i < mc.n_tasks && i < 64; i++) {
            gf_mc_task t;
            size_t next;
            if (gf_mc_task_at(&mc, mc.pos[i], i + 1, &t, &next, &err) == GF_OK &&
                (t.n_answers < 1 || t.n_answers > GF_EVAL_MAX_CHOICES || next > mc.len ||
                 t.question + t.question_len > (const char *)mc.buf + mc.len))
                __builtin_trap();
            if (gf_mc_task_at(&mc, off, i + 1, &t, &off, &err) != GF_OK) break;
            for (int a = 0; a < t.n_answers; a++)
                if (t.answer[a] + t.answer_len[a] > (const char *)mc.buf + mc.len) __builtin_trap();
        }
        gf_mc_free(&mc);
    }
    gf_wg_file wg;
    if (gf_wg_parse("tasks.csv", text, len, &wg, &err) == GF_OK) {
        for (int64_t i = 0; i < wg.n_tasks; i++) {
            const gf_wg_task *t = &wg.tasks[i];
            if ((t->answer != 1 && t->answer != 2) || !t->first || !t->second || !t->choice[0] || !t->choice[1])
                __builtin_trap();
        }
        gf_wg_free(&wg);
    }
    free(text);
    return 0;
}
