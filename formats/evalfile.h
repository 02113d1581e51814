/*
 * evalfile.h - the task files of `gguf-forge eval`, parsed from memory:
 * HellaSwag in llama.cpp's text layout (six lines per task: context, gold
 * ending index, four endings) and llama.cpp's binary multiple-choice layout
 * (ARC, MMLU, TruthfulQA files; examples/perplexity/perplexity.cpp, c392e50).
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

/* ---------------------------------------------------------------- multiple choice */

/* The binary layout, all integers u32/i32 little-endian, a string being its u32
 * length then its bytes:  n_tasks, n_tasks task offsets (from the file's start),
 * then the tasks: question; mc1 = u32 n (1..100), n answers, n i32 labels (1 marks
 * a correct answer); mc2 in the same layout (read, not scored). */
#define GF_EVAL_MAX_CHOICES 100

typedef struct {
    const char *question;                   /* not NUL-terminated: question_len bytes in the file */
    size_t question_len;
    int n_answers;                          /* mc1's, 1..100                                       */
    const char *answer[GF_EVAL_MAX_CHOICES];
    size_t answer_len[GF_EVAL_MAX_CHOICES];
    int32_t label[GF_EVAL_MAX_CHOICES];     /* 1: a right answer                                   */
} gf_mc_task;

typedef struct {
    const char *name;     /* for messages (not owned)                */
    uint8_t *buf;         /* owned copy of the file                  */
    size_t len;
    int64_t n_tasks;
    const uint32_t *pos;  /* (n_tasks) task offsets, inside buf      */
    size_t first;         /* offset of the first task (after the table) */
} gf_mc_file;

/* Checks the header (a task count of 1..2^24 and its offset table inside the file)
 * of len bytes and keeps a copy; tasks are read one by one with gf_mc_task_at. */
gf_status gf_mc_open(const char *name, const void *buf, size_t len, gf_mc_file *out, gf_err *err);
void gf_mc_free(gf_mc_file *f);

/* Reads the task at byte offset off into *t (pointers into f->buf) and sets *next
 * to the byte after it.  task_no (1-based) is for messages: GF_E_FORMAT names the
 * file, the task and what is short or out of range (an answer count over 100, a
 * record past the end of the file). */
gf_status gf_mc_task_at(const gf_mc_file *f, uint64_t off, int64_t task_no, gf_mc_task *t, size_t *next, gf_err *err);

/* ---------------------------------------------------------------- Winogrande */

/* llama.cpp's Winogrande CSV: "index,sentence,option1,option2,answer" per line, the
 * sentence optionally in double quotes (commas inside quotes do not split), one '_'
 * in it where an option goes, answer 1 or 2.  As llama.cpp reads it, a line that
 * does not parse (a header, a missing field, no '_', another answer) is skipped,
 * and the file's last line is not read (llama-perplexity's -f drops the final
 * newline, then its reader stops at the line that ends the text). */
typedef struct {
    char *first, *second;   /* the sentence before and after the '_' (NUL-terminated, owned by the file) */
    char *choice[2];
    int answer;             /* 1 or 2 */
    int64_t line;           /* 1-based line in the file */
} gf_wg_task;

typedef struct {
    gf_wg_task *tasks;
    int64_t n_tasks;
    int64_t n_skipped;      /* lines that did not parse (llama.cpp logs and skips them) */
    int64_t last_line;      /* the line never read, 1-based, or 0 (an empty last line)  */
    int64_t first_skipped;  /* the first of them, 1-based, or 0                         */
    char *text;             /* owned: the strings of every task                         */
} gf_wg_file;

/* Parses len bytes of a Winogrande CSV.  GF_E_FORMAT naming the file when no line
 * gives a task (not the claimed format) or the file holds a NUL byte. */
gf_status gf_wg_parse(const char *name, const char *buf, size_t len, gf_wg_file *out, gf_err *err);
void gf_wg_free(gf_wg_file *f);

#endif /* GF_EVALFILE_H */
