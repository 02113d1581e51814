/*
 * fuzz_safetensors.c - bytes as a whole .safetensors file, through the real open
 * path (a memfd stands in for the file): header validation, then a bounded read
 * of every tensor's first rows with the NaN/Inf check.  An input that starts with
 * "IDX:" is instead the rest as a sharded model's model.safetensors.index.json,
 * in a folder that holds two small valid shards (a.safetensors: tensors "x" and
 * "y"; b.safetensors: "z").  Rejections are fine; a crash, hang, leak or
 * sanitizer report is a bug.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../formats/safetensors.h"
#include "fuzz_replay.h"

#define MAX_FLOATS 4096

static char dir[] = "/tmp/gf-fuzz-st-XXXXXX";

static void write_file(const char *name, const void *p, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (fwrite(p, 1, n, f) != n) fprintf(stderr, "%s: short write\n", path);
    fclose(f);
}

static void remove_dir(void) {
    const char *names[] = {"a.safetensors", "b.safetensors", "model.safetensors.index.json"};
    char path[128];
    for (int i = 0; i < 3; i++) snprintf(path, sizeof path, "%s/%s", dir, names[i]), unlink(path);
    rmdir(dir);
}

/* a shard: 8-byte little-endian header length, the JSON header, F32 data */
static void write_shard(const char *name, const char *header, int n_floats) {
    uint8_t buf[512] = {0};
    uint64_t hl = strlen(header);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (int i = 0; i < n_floats; i++) {
        float v = 0.25f * (float)i;
        memcpy(buf + 8 + hl + 4 * (size_t)i, &v, 4);
    }
    write_file(name, buf, 8 + hl + 4 * (size_t)n_floats);
}

static int index_input(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        if (!mkdtemp(dir)) return 0;
        atexit(remove_dir);
        write_shard("a.safetensors",
                    "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                    "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
                    6);
        write_shard("b.safetensors", "{\"z\":{\"dtype\":\"F32\",\"shape\":[1,4],\"data_offsets\":[0,16]}}", 4);
        ready = 1;
    }
    write_file("model.safetensors.index.json", data, size);
    gf_safetensors *st = NULL;
    gf_err err;
    if (gf_st_open(dir, &st, &err) == GF_OK) {
        float buf[8];
        for (int64_t i = 0; i < st->n_tensors; i++)
            if (st->tensors[i].row_len * st->tensors[i].n_rows <= 8)
                gf_st_read_rows(st, &st->tensors[i], 0, st->tensors[i].n_rows, buf, &err);
        gf_st_close(st);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 4 && memcmp(data, "IDX:", 4) == 0) return index_input(data + 4, size - 4);
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
