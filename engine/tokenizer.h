/*
 * tokenizer.h - text to token ids and back, for a gf_vocab, the way llama.cpp
 * (src/llama-vocab.cpp, c392e50) does it, token for token.
 *
 * Two algorithms: byte-level BPE ("gpt2": a pre-tokenizer regex chosen by
 * tokenizer.ggml.pre, then merges by rank) and SentencePiece-style BPE ("llama":
 * spaces as U+2581, a leading space, merges by score, <0xXX> byte fallback).
 * A tokenizer is immutable after init: several threads may tokenize at once.
 */
#ifndef GF_TOKENIZER_H
#define GF_TOKENIZER_H

#include "../common/gf.h"
#include "../formats/vocab.h"

typedef struct gf_tokenizer gf_tokenizer;

/* Builds the lookup tables (copies what it needs: v may be freed afterwards).
 * Fails with GF_E_FORMAT on a vocabulary llama.cpp could not load either (two tokens
 * with the same text, a gpt2 vocabulary without merges) and GF_E_UNSUPPORTED for a
 * pre-tokenizer other than qwen2 (and its aliases), llama-bpe (llama3), gpt-2 and default.
 * Like llama.cpp at load time, tokens whose text is a known end-of-turn or
 * fill-in-the-middle marker ("<|im_end|>", "<|endoftext|>", "<|fim_prefix|>", ...)
 * are treated as CONTROL whatever their stored type. */
gf_status gf_tokenizer_init(const gf_vocab *v, gf_tokenizer **out, gf_err *err);
void gf_tokenizer_free(gf_tokenizer *t);

/* Tokenizes len bytes of text (need not be NUL-terminated; any bytes, invalid UTF-8
 * included).  add_special: add BOS/EOS as the vocabulary asks (llama.cpp's defaults
 * when it does not say: BOS for "llama" and llama-bpe, none otherwise; never EOS).
 * parse_special: CONTROL and UNKNOWN token texts in the input become those tokens
 * (as llama.cpp tokenizes prompts); without it only USER_DEFINED texts are matched
 * (as llama-perplexity tokenizes).  *ids is malloc'd (free it), *n_ids its length. */
gf_status gf_tokenize(const gf_tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                      int32_t **ids, size_t *n_ids, gf_err *err);

/* The bytes a token stands for (not NUL-terminated; *len set), or NULL for an id out
 * of range.  special = 0 gives "" for CONTROL and UNKNOWN tokens (llama_token_to_piece). */
const char *gf_token_to_piece(const gf_tokenizer *t, int32_t id, int special, size_t *len);

/* Ids back to text, as llama_detokenize: remove_special drops a leading BOS (and a
 * trailing EOS when the vocabulary adds one), unparse_special renders CONTROL/UNKNOWN
 * tokens as their text; the leading space SPM adds is removed; ids out of range are
 * an error.  *text is malloc'd and NUL-terminated, *len excludes the NUL. */
gf_status gf_detokenize(const gf_tokenizer *t, const int32_t *ids, size_t n_ids, int remove_special,
                        int unparse_special, char **text, size_t *len, gf_err *err);

int32_t gf_tokenizer_n_tokens(const gf_tokenizer *t);
int32_t gf_tokenizer_bos(const gf_tokenizer *t);     /* -1 if none */
int32_t gf_tokenizer_eos(const gf_tokenizer *t);     /* -1 if none */
int gf_tokenizer_adds_bos(const gf_tokenizer *t);    /* what add_special does */
int gf_tokenizer_adds_eos(const gf_tokenizer *t);
/* id of a token by its exact text, or -1 */
int32_t gf_tokenizer_find(const gf_tokenizer *t, const char *text, size_t len);

#endif /* GF_TOKENIZER_H */
