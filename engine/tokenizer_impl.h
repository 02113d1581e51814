/*
 * tokenizer_impl.h - what tokenizer.c, tokenizer_bpe.c and tokenizer_spm.c share:
 * the tokenizer's tables and a growable id list.  Not a public interface.
 */
#ifndef GF_TOKENIZER_IMPL_H
#define GF_TOKENIZER_IMPL_H

#include "tokenizer.h"
#include "../common/array.h"
#include "../common/strmap.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define GF_TOK_MAX_REGEX 4

typedef struct {
    uint64_t key;   /* ((uint64_t)left_id << 32) | right_id; 0 = empty slot */
    int32_t rank;   /* merge index */
    int32_t result; /* id of left+right, or -1 */
} gf_merge_slot;

struct gf_tokenizer {
    gf_vocab_kind kind;
    int32_t n_tokens;
    char *arena;            /* all token texts, back to back                    */
    gf_span *text;          /* (n_tokens) views into arena                      */
    int32_t *type;          /* (n_tokens) GF_TOKEN_* after llama.cpp's overrides */
    float *score;           /* (n_tokens) SPM scores (0 when the vocab has none) */
    gf_strmap map;          /* text -> id                                        */
    int32_t bos, eos, unk;  /* -1 when none                                      */
    int add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;
    int spm_split_words;    /* SPM: no token has U+2581 past byte 0 (see tokenizer_spm.c) */
    int32_t *special;       /* (n_special) CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t n_special;
    char *piece_arena;      /* token_to_piece(special = 1) of every token        */
    gf_span *piece;         /* (n_tokens)                                        */
    int32_t byte_tok[256];  /* BPE: id of the byte's U+0100-mapped char; SPM: <0xXX> */
    /* BPE only */
    uint16_t byte_cp[256];  /* GPT-2 byte -> code point map                      */
    gf_merge_slot *merge;   /* (merge_mask+1) id pair -> rank                    */
    uint64_t merge_mask;
    gf_span *merge_text;    /* (n_merges) "left right" texts, for pairs with an id of -1 */
    char *merge_arena;
    gf_strmap merge_map;
    int32_t n_merges;
    pcre2_code *re[GF_TOK_MAX_REGEX];
    int n_re;
};

/* A growable list of ids. */
typedef struct {
    int32_t *p;
    size_t n, cap;
} gf_idvec;

static inline int gf_idvec_push(gf_idvec *v, int32_t id) {
    if (gf_array_reserve(&v->p, &v->cap, v->n + 1, 256)) return -1;
    v->p[v->n++] = id;
    return 0;
}

/* Decodes one code point as llama.cpp's unicode_cpt_from_utf8 does (no overlong or
 * surrogate checks); returns its length, or 0 for an invalid sequence. */
static inline size_t gf_tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) return *cp = c, 1;
    if (!(c & 0x40)) return 0;
    size_t len = !(c & 0x20) ? 2 : !(c & 0x10) ? 3 : !(c & 0x08) ? 4 : 0;
    if (!len || len > n) return 0;
    uint32_t v = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    return *cp = v, len;
}

/* bpe: tables for the gpt2 kind; fails on an unsupported pre-tokenizer. */
gf_status gf_tok_bpe_init(gf_tokenizer *t, const gf_vocab *v, gf_err *err);
void gf_tok_bpe_free(gf_tokenizer *t);
/* Appends the ids of one raw-text fragment. */
gf_status gf_tok_bpe_encode(const gf_tokenizer *t, const char *text, size_t len, gf_idvec *out, gf_err *err);
/* SPM: text is already prefixed; spaces are escaped here. */
gf_status gf_tok_spm_encode(const gf_tokenizer *t, const char *text, size_t len, int prefix_space,
                            gf_idvec *out, gf_err *err);

#endif /* GF_TOKENIZER_IMPL_H */
