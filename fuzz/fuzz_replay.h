/*
 * fuzz_replay.h - lets a libFuzzer target also build as a plain program: with
 * -DGF_FUZZ_REPLAY, main() runs LLVMFuzzerTestOneInput on every file of the corpus
 * directories given as arguments (a regression test of the corpus), and fails if a
 * file cannot be read or no file was given.  A target's LLVMFuzzerInitialize, if it
 * has one, runs first, as under libFuzzer.  Without it, this header adds nothing.
 */
#ifndef GF_FUZZ_REPLAY_H
#define GF_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#ifdef GF_FUZZ_REPLAY
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0, r;
    uint8_t *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *p = realloc(buf, cap *= 2);
            if (!p) { free(buf); buf = NULL; }
            else buf = p;
        }
    }
    fclose(f);
    if (!buf) return -1;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    int files = 0, failed = 0;
    if (LLVMFuzzerInitialize && LLVMFuzzerInitialize(&argc, &argv) != 0) return 1;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) { /* a single file */
            if (replay_file(argv[a])) failed++;
            else files++;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (replay_file(path)) { fprintf(stderr, "cannot read %s\n", path); failed++; }
            else files++;
        }
        closedir(d);
    }
    printf("%s: replayed %d inputs, %d unreadable\n", argv[0], files, failed);
    return failed || !files ? 1 : 0;
}
#endif /* GF_FUZZ_REPLAY */

#endif /* GF_FUZZ_REPLAY_H */
