/*
 * vocab.h - a model's vocabulary as GGUF stores it (tokenizer.ggml.* keys).
 *
 * Built from a Hugging Face folder (tokenizer.json, tokenizer_config.json,
 * config.json) for writing, or from a GGUF file for the tokenizer.  Holds data
 * only; encoding and decoding live in engine/tokenizer.c.
 */
#ifndef GF_VOCAB_H
#define GF_VOCAB_H

#include "../common/gf.h"
#include "gguf.h"

/* GGUF token types (tokenizer.ggml.token_type), as llama.cpp defines them. */
enum {
    GF_TOKEN_NORMAL = 1, GF_TOKEN_UNKNOWN = 2, GF_TOKEN_CONTROL = 3,
    GF_TOKEN_USER_DEFINED = 4, GF_TOKEN_UNUSED = 5, GF_TOKEN_BYTE = 6,
};

typedef enum {
    GF_VOCAB_SPM, /* tokenizer.ggml.model = "llama": SentencePiece-style BPE, byte fallback */
    GF_VOCAB_BPE, /* tokenizer.ggml.model = "gpt2":  byte-level BPE with merges            */
} gf_vocab_kind;

/* Caps on untrusted input: counts beyond these are rejected, never allocated. */
#define GF_VOCAB_MAX_TOKENS    (1 << 22)     /* tokens (or embedding rows); real ones < 300k */
#define GF_VOCAB_MAX_MERGES    (1 << 24)
#define GF_VOCAB_MAX_TEXT      (1 << 16)     /* bytes in one token or merge text      */
#define GF_VOCAB_MAX_TEMPLATE  (16u << 20)   /* bytes of tokenizer.chat_template      */
#define GF_VOCAB_MAX_JSON      ((size_t)256 << 20) /* bytes of tokenizer.json         */
#define GF_VOCAB_MAX_CONFIG    ((size_t)16 << 20)  /* tokenizer_config.json, config.json */

typedef struct {
    gf_vocab_kind kind;
    char pre[64];          /* tokenizer.ggml.pre ("qwen2", "llama-bpe", "default", ...); "" for SPM */
    int32_t n_tokens;
    gf_str *tokens;        /* (n_tokens) UTF-8 token texts, each its own allocation  */
    float *scores;         /* (n_tokens) or NULL                                     */
    int32_t *types;        /* (n_tokens) GF_TOKEN_*                                  */
    int32_t n_merges;
    gf_str *merges;        /* (n_merges) "left right", rank order; BPE only          */
    int32_t bos_id, eos_id, unk_id, pad_id; /* -1 when absent                        */
    int add_bos, add_eos;  /* 1, 0, or -1 when the source says nothing               */
    char *chat_template;   /* or NULL                                                */
} gf_vocab;

/* Reads model_dir/tokenizer.json (+ tokenizer_config.json, config.json when present).
 * n_rows is the embedding's row count: the vocabulary is padded to it with
 * "[PADn]" tokens of type UNUSED; more tokens than rows is an error (n_rows 0: no check).
 *
 * Kinds: model.type "BPE" with byte_fallback -> SPM ("llama"); without byte_fallback
 * -> byte-level BPE ("gpt2"), whose tokenizer.ggml.pre comes from the Split regex of
 * the pre-tokenizer: Qwen2's pattern -> "qwen2", Llama 3's -> "llama-bpe", a bare
 * ByteLevel pre-tokenizer (GPT-2's built-in regex) -> "gpt-2".  Any other pattern is
 * an error (GF_E_UNSUPPORTED), as llama.cpp's convert_hf_to_gguf.py refuses
 * unrecognised pre-tokenizers: a file labelled "default" would load but split text
 * differently from the original tokenizer, silently degrading the model. */
gf_status gf_vocab_from_hf(const char *model_dir, int64_t n_rows, gf_vocab **out, gf_err *err);

/* The same from texts in memory (for fuzzing and tests).  tokenizer_json is
 * required; the two others may be NULL (file absent).  The *_name strings name the
 * files in messages (NULL: "tokenizer.json", ...).  Texts need not be NUL-terminated. */
typedef struct {
    const char *tokenizer_json;   size_t tokenizer_json_len;   const char *tokenizer_json_name;
    const char *tokenizer_config; size_t tokenizer_config_len; const char *tokenizer_config_name;
    const char *config;           size_t config_len;           const char *config_name;
} gf_vocab_hf_text;
gf_status gf_vocab_from_hf_text(const gf_vocab_hf_text *in, int64_t n_rows, gf_vocab **out, gf_err *err);

/* Writes the tokenizer.ggml.* and tokenizer.chat_template keys. */
gf_status gf_vocab_to_gguf(const gf_vocab *v, gf_gguf_writer *w, gf_err *err);
/* Reads the vocabulary back from a GGUF (ours or llama.cpp's). */
gf_status gf_vocab_from_gguf(const gf_gguf *g, gf_vocab **out, gf_err *err);
void gf_vocab_free(gf_vocab *v);

/* An empty vocabulary of n tokens (texts NULL, types NORMAL, no scores, ids -1,
 * add_bos/add_eos -1), for builders; NULL when out of memory or n out of range. */
gf_vocab *gf_vocab_alloc(int32_t n_tokens);
/* "tokenizer.ggml.model" value for a kind: "llama" or "gpt2". */
const char *gf_vocab_model_name(gf_vocab_kind kind);

#endif /* GF_VOCAB_H */
