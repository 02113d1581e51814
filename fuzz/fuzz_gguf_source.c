/*
 * fuzz_gguf_source.c - bytes as a GGUF model given to `quantize`: the real open path
 * of a GGUF input (gf_gguf_source_open on a memfd: the reader, the architecture keys,
 * the tensors against the architecture table), then the first and last row of every
 * tensor through gf_st_read_rows (dequantized, NaN/Inf refused), rows of at most
 * MAX_FLOATS elements.  Rejections are fine; a crash, hang, leak or sanitizer report
 * is a bug.  The corpus holds small valid qwen2 and llama models of mixed types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../formats/gguf_source.h"
#include "fuzz_replay.h"

#define MAX_FLOATS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    gf_gguf *g = NULL;
    gf_safetensors *st = NULL;
    gf_hfcfg hp;
    gf_err err;
    if (gf_gguf_source_open(path, &g, &hp, &st, &err) == GF_OK) {
        static float row[MAX_FLOATS];
        for (int64_t i = 0; i < st->n_tensors; i++) {
            const gf_st_tensor *t = &st->tensors[i];
            if (t->row_len > MAX_FLOATS) continue;
            gf_st_read_rows(st, t, 0, 1, row, &err);
            gf_st_read_rows(st, t, t->n_rows - 1, 1, row, &err);
            (void)gf_st_find(st, t->name);
        }
    }
    gf_st_close(st);
    gf_gguf_close(g);
    close(fd);
    return 0;
}
