/*
 * fuzz_tokenizer_json.c - bytes as the contents of tokenizer.json, through the whole
 * vocabulary path: JSON -> gf_vocab -> tokenizer tables -> a short tokenization ->
 * GGUF keys.  Any crash, leak or sanitizer report is a bug; rejections are fine.
 * Build: clang -fsanitize=fuzzer,address ... ; or -DGF_FUZZ_REPLAY to replay a corpus.
 */
#include "../engine/tokenizer.h"
#include "../formats/vocab.h"
#include "fuzz_replay.h"

#include <stdlib.h>
#include <string.h>

/* Embedding rows for the fuzzed vocabulary: bounds the ids (and the padding work). */
#define FUZZ_ROWS 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char cfg[] = "{\"bos_token\":\"<s>\",\"eos_token\":{\"content\":\"</s>\"},\"add_bos_token\":true}";
    gf_vocab_hf_text in = {
        .tokenizer_json = (const char *)data, .tokenizer_json_len = size,
        .tokenizer_config = cfg, .tokenizer_config_len = sizeof cfg - 1,
    };
    gf_vocab *v = NULL;
    gf_tokenizer *t = NULL;
    gf_err err;
    if (gf_vocab_from_hf_text(&in, FUZZ_ROWS, &v, &err) != GF_OK) return 0;
    if (gf_tokenizer_init(v, &t, &err) == GF_OK) {
        static const char text[] = "Hello  world! <s>x</s> caf\xc3\xa9 \xff 123\n";
        for (int ps = 0; ps < 2; ps++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (gf_tokenize(t, text, sizeof text - 1, 1, ps, &ids, &n, &err) == GF_OK) {
                char *back = NULL;
                size_t len = 0;
                if (gf_detokenize(t, ids, n, 1, ps, &back, &len, &err) == GF_OK) free(back);
                free(ids);
            }
        }
        gf_tokenizer_free(t);
    }
    gf_gguf_writer *w = gf_gguf_writer_new();
    if (w) {
        gf_vocab_to_gguf(v, w, &err);
        gf_gguf_writer_free(w);
    }
    gf_vocab_free(v);
    return 0;
}
