/*
 * evalfile.h - the task files of `gguf-forge eval`, parsed from memory:
 * HellaSwag in llama.cpp's text layout (six lines per task: context, gold
 * ending index, four endings; examples/perplexity/perplexity.cpp, c392e50).
 * Parsers only check and index the bytes; tokenizing and scoring are in
 * engine/eval.c.  Callable on any buffer (the fuzz target's entry).
 */
#ifndef GF_EVALFILE_H
#define GF_EVALFILE_H

#include "../common/gf.h"

#define GF_HS_ENDINGS 4
#define GF_EVAL_MAX_TASKS (1L << 24) /* far above HellaSwag's 10,042 validation tasks */

typedef struct {
    const char *ctx;                     /* NUL-terminated, inside gf_hs_file.text */
    const char *ending[GF_HS_ENDINGS];
    int gold;                            /* 0..3 */
} gf_hs_task;

typedef struct {
    gf_hs_task *tasks;   /* (n_tasks) in file order */
    int64_t n_tasks;
    char *text;          /* owned copy of the file, each line NUL-terminated in place */
} gf_hs_file;

/* Parses len bytes of a HellaSwag file; name is for messages.  Lines end at '\n'
 * (a last line without one counts, as std::getline reads them).  GF_E_FORMAT,
 * naming the file and the task, for a line count that is not a multiple of six
 * (a truncated last task), a gold index that is not 0..3, a NUL byte, or no tasks. */
gf_status gf_hs_parse(const char *name, const char *buf, size_t len, gf_hs_file *out, gf_err *err);
void gf_hs_free(gf_hs_file *f);

#endif /* GF_EVALFILE_H */
