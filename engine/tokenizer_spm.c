/*
 * tokenizer_spm.c - SentencePiece-style BPE ("llama" vocabularies) as llama.cpp's
 * llm_tokenizer_spm_session does it: spaces become U+2581, the text is cut into
 * UTF-8 characters (by lead byte, without validation), and the adjacent pair whose
 * concatenation is the highest-scoring token is merged first (ties: leftmost).
 * Characters that end up as no token are emitted as <0xXX> byte tokens.
 *
 * llama.cpp keeps a map to re-split a final symbol that is not a token; every
 * multi-character symbol is a token by construction, so it is not needed here.
 */
#include "tokenizer_impl.h"

#include "../common/heap.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t start;
    uint32_t n;
    int32_t prev, next;
} sym;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;
} bigram;

static int before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

GF_HEAP_DEFINE(bigram_heap, bigram, before)

typedef struct {
    const gf_tokenizer *t;
    const char *s; /* escaped text */
    sym *sy;
    bigram_heap h; /* pairs that may merge, best first */
} session;

static int try_bigram(session *ss, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return 0;
    const sym *a = &ss->sy[l], *b = &ss->sy[r];
    size_t n = (size_t)a->n + b->n;
    if (n > GF_VOCAB_MAX_TEXT) return 0; /* longer than any token */
    int32_t id = gf_strmap_find(&ss->t->map, ss->t->text, ss->s + a->start, n);
    if (id < 0) return 0;
    return bigram_heap_push(&ss->h, (bigram){.score = ss->t->score[id], .left = l, .right = r, .size = (uint32_t)n});
}

static int merge_word(session *ss, int32_t w0, int32_t w1) {
    for (int32_t i = w0 + 1; i < w1; i++)
        if (try_bigram(ss, i - 1, i)) return -1;
    while (ss->h.n) {
        bigram bg = bigram_heap_pop(&ss->h);
        sym *a = &ss->sy[bg.left], *b = &ss->sy[bg.right];
        if (!a->n || !b->n || a->n + b->n != bg.size) continue; /* one side already merged */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) ss->sy[b->next].prev = bg.left;
        if (try_bigram(ss, a->prev, bg.left) || try_bigram(ss, bg.left, a->next)) return -1;
    }
    return 0;
}

static int emit_word(session *ss, int32_t w0, gf_idvec *out) {
    const gf_tokenizer *t = ss->t;
    for (int32_t i = w0; i >= 0; i = ss->sy[i].next) {
        const sym *y = &ss->sy[i];
        int32_t id = gf_strmap_find(&t->map, t->text, ss->s + y->start, y->n);
        if (id >= 0) {
            if (gf_idvec_push(out, id)) return -1;
            continue;
        }
        /* byte fallback; llama.cpp throws when a byte has no token, this uses <unk> */
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t b = t->byte_tok[(unsigned char)ss->s[y->start + j]];
            if (b < 0) b = t->unk;
            if (b >= 0 && gf_idvec_push(out, b)) return -1;
        }
    }
    return 0;
}

gf_status gf_tok_spm_encode(const gf_tokenizer *t, const char *text, size_t len, int prefix_space,
                            gf_idvec *out, gf_err *err) {
    static const unsigned char utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    session ss = {.t = t};
    char *s = NULL;
    gf_status st = GF_OK;
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    if (len > INT32_MAX / 4) /* symbol indices are int32 */
        return gf_errf(err, GF_E_NOMEM, "gf_tokenize: text too large");
    size_t n = len + 2 * spaces + (prefix_space ? 3 : 0); /* each space becomes the 3 bytes of U+2581 */
    if (!(s = malloc(n + 1))) goto nomem;
    size_t o = 0;
    if (prefix_space) memcpy(s, "\xe2\x96\x81", 3), o = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(s + o, "\xe2\x96\x81", 3), o += 3;
        else s[o++] = text[i];
    }
    ss.s = s;
    if (!n) goto done;
    if (!(ss.sy = malloc(n * sizeof *ss.sy))) goto nomem;
    int32_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t l = utf8_len[(unsigned char)s[off] >> 4];
        if (l > n - off) l = n - off;
        ss.sy[ns] = (sym){.start = off, .n = (uint32_t)l, .prev = ns - 1, .next = off + l < n ? ns + 1 : -1};
        ns++;
        off += l;
    }
    /* When no token has U+2581 past its first byte, no merge crosses the start of a
     * "\xe2\x96\x81" symbol: the text is then merged word by word, which gives the
     * same result (the order of merges inside a word does not change) with a small heap. */
    for (int32_t w0 = 0, w1; w0 < ns; w0 = w1) {
        w1 = w0 + 1;
        if (t->spm_split_words)
            while (w1 < ns && !(ss.sy[w1].n == 3 && memcmp(s + ss.sy[w1].start, "\xe2\x96\x81", 3) == 0)) w1++;
        else
            w1 = ns;
        ss.sy[w0].prev = -1;
        ss.sy[w1 - 1].next = -1;
        ss.h.n = 0;
        if (merge_word(&ss, w0, w1) || emit_word(&ss, w0, out)) goto nomem;
    }
    goto done;
nomem:
    st = gf_errf(err, GF_E_NOMEM, "gf_tokenize: out of memory (%zu bytes of text)", len);
done:
    free(s);
    free(ss.sy);
    bigram_heap_free(&ss.h);
    return st;
}
