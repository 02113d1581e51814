/*
 * fuzz_evalfile.c - bytes as an `eval` task file: the text reader (gzip or
 * plain, with its size cap) and the HellaSwag parser on what it returns, then
 * the parsed tasks' invariants (gold index 0..3, every line present).
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
    free(text);
    return 0;
}
