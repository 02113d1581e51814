/*
 * fuzz_tokenize.c - bytes as text through the qwen2-tiny (byte-level BPE) and
 * stories260K (SPM) tokenizers, with and without special-token parsing, and back.
 * Checks, besides memory safety: every id is in range, and for the byte-level
 * vocabulary, valid UTF-8 detokenizes back to exactly the input.
 * The vocabularies come from $GF_SHARED/models (default ../shared); without both
 * of them the target refuses to run (LLVMFuzzerInitialize exits 1), so a replay
 * with nothing to tokenize fails instead of passing.  Build as fuzz_tokenizer_json.c.
 */
#include "../engine/tokenizer.h"
#include "../formats/vocab.h"
#include "fuzz_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gf_tokenizer *tok[2]; /* built once: qwen2-tiny, stories260K */

static gf_tokenizer *load(const char *rel) {
    const char *shared = getenv("GF_SHARED");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", shared && *shared ? shared : "../shared", rel);
    gf_vocab *v = NULL;
    gf_tokenizer *t = NULL;
    gf_err err;
    if (gf_vocab_from_hf(dir, 0, &v, &err) == GF_OK) gf_tokenizer_init(v, &t, &err);
    else fprintf(stderr, "fuzz_tokenize: %s\n", err.msg);
    gf_vocab_free(v);
    return t;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || i + len > n) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    tok[0] = load("models/qwen2-tiny/f32");
    tok[1] = load("models/stories260K/f32");
    if (!tok[0] || !tok[1]) {
        fprintf(stderr, "fuzz_tokenize: no vocabulary to tokenize with (set GF_SHARED)\n");
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int k = 0; k < 2; k++) {
        for (int ps = 0; ps < 2; ps++) {
            int32_t *ids = NULL;
            size_t n = 0;
            gf_err err;
            if (gf_tokenize(tok[k], (const char *)data, size, ps, ps, &ids, &n, &err) != GF_OK) {
                fprintf(stderr, "tokenize failed: %s\n", err.msg);
                __builtin_trap();
            }
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= gf_tokenizer_n_tokens(tok[k])) __builtin_trap();
            char *back = NULL;
            size_t len = 0;
            if (gf_detokenize(tok[k], ids, n, 0, 1, &back, &len, &err) != GF_OK) __builtin_trap();
            /* byte-level BPE is lossless on valid UTF-8 (qwen2 does not clean spaces) */
            if (k == 0 && !ps && valid_utf8(data, size) && (len != size || memcmp(back, data, size) != 0))
                __builtin_trap();
            free(back);
            free(ids);
        }
    }
    return 0;
}
