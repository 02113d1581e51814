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

typedef struct {
    gf_vocab_kind kind;
    char pre[64];          /* tokenizer.ggml.pre ("qwen2", "llama-bpe", "default", ...); "" for SPM */
    int32_t n_tokens;
    gf_str *tokens;        /* (n_tokens) UTF-8 token texts                           */
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
 * "[PADn]" tokens of type UNUSED; more tokens than rows is an error (n_rows 0: no check). */
gf_status gf_vocab_from_hf(const char *model_dir, int64_t n_rows, gf_vocab **out, gf_err *err);
/* Writes the tokenizer.ggml.* and tokenizer.chat_template keys. */
gf_status gf_vocab_to_gguf(const gf_vocab *v, gf_gguf_writer *w, gf_err *err);
/* Reads the vocabulary back from a GGUF (ours or llama.cpp's). */
gf_status gf_vocab_from_gguf(const gf_gguf *g, gf_vocab **out, gf_err *err);
void gf_vocab_free(gf_vocab *v);

#endif /* GF_VOCAB_H */
