/*
 * fuzz_safetensors.c - bytes as a whole .safetensors file, through the real open
 * path (a memfd stands in for the file): header validation, then a bounded read
 * of every tensor's first rows with the NaN/Inf check.  Rejections are fine; a
 * crash, hang, leak or sanitizer report is a bug.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../formats/safetensors.h"
#include "fuzz_replay.h"

#define MAX_FLOATS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    gf_safetensors *st = NULL;
    gf_err err;
    if (gf_st_open(path, &st, &err) == GF_OK) {
        static float buf[MAX_FLOATS];
        for (int64_t i = 0; i < st->n_tensors; i++) {
            const gf_st_tensor *t = &st->tensors[i];
            if (t->row_len > MAX_FLOATS) continue;
            int64_t rows = MAX_FLOATS / t->row_len;
            if (rows > t->n_rows) rows = t->n_rows;
            gf_st_read_rows(st, t, 0, rows, buf, &err);
            (void)gf_st_find(st, t->name);
        }
        gf_st_close(st);
    }
    close(fd);
    return 0;
}
