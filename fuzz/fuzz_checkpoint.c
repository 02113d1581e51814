/*
 * fuzz_checkpoint.c - bytes as a checkpoint folder of `quantize --checkpoint` (calib/checkpoint.c):
 * u32 n, then n bytes of state.gfck, then the bytes of block-0000.gfck; the harness appends
 * each file's FNV-1a itself, so that inputs get past the checksum to the parsers.  The folder
 * is opened for a fixed identity, then every saved tensor, a stream and the block figures are
 * read back.  Rejections are fine; a crash, hang, leak or sanitizer report is a bug.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../calib/checkpoint.h"
#include "../common/hash.h"
#include "fuzz_replay.h"

#define ID "the model\tfuzz\noption --iters\t2\n" /* fuzz/corpus/fuzz_checkpoint's seeds use it */

static char dir[64];

static void remove_dir(void) { rmdir(dir); }

static void put_file(const char *name, const uint8_t *p, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    uint64_t h = gf_fnv1a64(p, n);
    if (n) fwrite(p, 1, n, f);
    fwrite(&h, 1, 8, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/gf-fuzz-ckpt-XXXXXX");
        if (!mkdtemp(dir)) return 0;
        atexit(remove_dir);
    }
    uint32_t n = 0;
    if (size >= 4) memcpy(&n, data, 4);
    size_t body = size >= 4 ? size - 4 : 0, ns = n < body ? n : body;
    put_file("state.gfck", data + (size - body), ns);
    put_file("block-0000.gfck", data + (size - body) + ns, body - ns);
    gf_ckpt *ck = NULL;
    gf_err err;
    if (gf_ckpt_open(dir, ID, &ck, &err) == GF_OK) {
        for (int i = 0; i < gf_ckpt_n_tensors(ck); i++) {
            const gf_ckpt_tensor *t = gf_ckpt_tensor_at(ck, i);
            void *buf = t->nbytes <= (1u << 20) ? malloc(t->nbytes + 1) : NULL;
            if (buf) gf_ckpt_read_tensor(ck, i, buf, &err);
            free(buf);
        }
        float x[16];
        int found;
        gf_ckpt_read_stream(ck, "x", x, 16, &found, &err);
        uint32_t m;
        gf_ckpt_block_info(ck, 0, &m);
        gf_ckpt_free(ck);
    }
    char path[128];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, i == 0 ? "state.gfck" : i == 1 ? "block-0000.gfck" : "lock");
        unlink(path);
    }
    return 0;
}
