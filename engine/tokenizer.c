/*
 * tokenizer.c - the tokenizer's tables, special-token splitting, BOS/EOS, pieces and
 * detokenization, following llama.cpp's llama_vocab (src/llama-vocab.cpp, c392e50).
 *
 * The two algorithms are in tokenizer_bpe.c (gpt2) and tokenizer_spm.c (llama).
 * Deliberate differences from llama.cpp: where it aborts (a BOS it must add but does
 * not have, a byte with no <0xXX> token) this returns an error or uses <unk>; and all
 * end-of-turn / fill-in-the-middle marker tokens are made CONTROL, where llama.cpp
 * picks one per kind in hash-map order when a vocabulary has several candidates.
 */
#include "tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Token texts llama.cpp makes CONTROL at load (EOT/EOG, EOM and FIM markers). */
static const char *const control_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "<|eom_id|>",
    "<|fim_prefix|>", "<fim-prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>",
    "<|fim_suffix|>", "<fim-suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>",
    "<|fim_middle|>", "<fim-middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>",
    "<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
    "<|file_sep|>",
};

static int is_special_type(int32_t type) {
    return type == GF_TOKEN_CONTROL || type == GF_TOKEN_USER_DEFINED || type == GF_TOKEN_UNKNOWN;
}

/* ---------------------------------------------------------------- pieces */

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static int buf_put(buf *b, const void *src, size_t n) {
    if (n > SIZE_MAX - b->n - 1 || gf_array_reserve(&b->p, &b->cap, b->n + n + 1, 4096)) return -1;
    memcpy(b->p + b->n, src, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* The bytes of a token with special = 1 (llama_vocab::token_to_piece). */
static int make_piece(const gf_tokenizer *t, int32_t id, const int16_t *cp_byte, buf *b) {
    const gf_span *s = &t->text[id];
    int32_t type = t->type[id];
    if (is_special_type(type)) return buf_put(b, s->p, s->n);
    if (t->kind == GF_VOCAB_SPM) {
        if (type == GF_TOKEN_NORMAL) {
            for (size_t i = 0; i < s->n;) {
                if (i + 3 <= s->n && memcmp(s->p + i, "\xe2\x96\x81", 3) == 0) {
                    if (buf_put(b, " ", 1)) return -1;
                    i += 3;
                } else {
                    if (buf_put(b, s->p + i, 1)) return -1;
                    i++;
                }
            }
        } else if (type == GF_TOKEN_BYTE) {
            char hex[3] = {0};
            if (s->n >= 5) memcpy(hex, s->p + 3, 2);
            unsigned char byte = (unsigned char)strtol(hex, NULL, 16);
            return buf_put(b, &byte, 1);
        }
        return 0;
    }
    if (type != GF_TOKEN_NORMAL) return 0;
    /* Byte-level: each code point of the text stands for one byte. */
    const unsigned char *p = (const unsigned char *)s->p;
    for (size_t i = 0; i < s->n;) {
        uint32_t cp = 0xFFFD;
        size_t len = gf_tok_utf8_decode(p + i, s->n - i, &cp);
        if (!len) len = 1, cp = 0xFFFD;
        if (cp < 0x144 && cp_byte[cp] >= 0) {
            unsigned char byte = (unsigned char)cp_byte[cp];
            if (buf_put(b, &byte, 1)) return -1;
        } else {
            /* llama_decode_text's marker for a code point outside the byte map */
            char tmp[48];
            int k = snprintf(tmp, sizeof tmp, "[UNK_BYTE_0x");
            for (size_t j = 0; j < len; j++) k += snprintf(tmp + k, sizeof tmp - (size_t)k, "%02x", p[i + j]);
            if (buf_put(b, tmp, (size_t)k) || buf_put(b, s->p, s->n) || buf_put(b, "]", 1)) return -1;
        }
        i += len;
    }
    return 0;
}

static gf_status build_pieces(gf_tokenizer *t, gf_err *err) {
    int16_t cp_byte[0x144];
    for (int i = 0; i < 0x144; i++) cp_byte[i] = -1;
    if (t->kind == GF_VOCAB_BPE)
        for (int b = 0; b < 256; b++) cp_byte[t->byte_cp[b]] = (int16_t)b;
    buf b = {0};
    size_t *off = malloc((size_t)t->n_tokens * sizeof *off);
    t->piece = malloc((size_t)t->n_tokens * sizeof *t->piece);
    if (!off || !t->piece) goto nomem;
    for (int32_t id = 0; id < t->n_tokens; id++) {
        off[id] = b.n;
        if (make_piece(t, id, cp_byte, &b)) goto nomem;
    }
    if (buf_put(&b, "", 0)) goto nomem;
    t->piece_arena = b.p;
    for (int32_t id = 0; id < t->n_tokens; id++) {
        size_t end = id + 1 < t->n_tokens ? off[id + 1] : b.n;
        if (end - off[id] > UINT32_MAX) goto nomem;
        t->piece[id].p = b.p + off[id];
        t->piece[id].n = (uint32_t)(end - off[id]);
    }
    free(off);
    return GF_OK;
nomem:
    free(off);
    if (!t->piece_arena) free(b.p);
    return gf_errf(err, GF_E_NOMEM, "tokenizer: out of memory building token pieces");
}

/* ---------------------------------------------------------------- init */

static gf_status copy_texts(gf_tokenizer *t, const gf_vocab *v, gf_err *err) {
    uint64_t total = 0;
    char tmp[32];
    for (int32_t i = 0; i < v->n_tokens; i++) {
        uint64_t n = v->tokens[i].s ? v->tokens[i].len : 0;
        if (n > UINT32_MAX) return gf_errf(err, GF_E_FORMAT, "vocabulary: token %d is too long", (int)i);
        if (n == 0) n = (uint64_t)snprintf(tmp, sizeof tmp, "[EMPTY_%d]", (int)i);
        if (gf_add_overflow(total, n, &total) || total > SIZE_MAX - 1)
            return gf_errf(err, GF_E_FORMAT, "vocabulary: token texts too large");
    }
    t->arena = malloc((size_t)total + 1);
    t->text = malloc((size_t)v->n_tokens * sizeof *t->text);
    if (!t->arena || !t->text) return gf_errf(err, GF_E_NOMEM, "tokenizer: out of memory");
    size_t o = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t n = v->tokens[i].s ? (size_t)v->tokens[i].len : 0;
        if (n) memcpy(t->arena + o, v->tokens[i].s, n);
        else n = (size_t)snprintf(t->arena + o, sizeof tmp, "[EMPTY_%d]", (int)i); /* as llama.cpp */
        t->text[i].p = t->arena + o;
        t->text[i].n = (uint32_t)n;
        o += n;
    }
    return GF_OK;
}

static int cmp_special(const void *a, const void *b, void *ctx) {
    const gf_tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->text[x].n != t->text[y].n) return t->text[x].n > t->text[y].n ? -1 : 1;
    return (x > y) - (x < y);
}

gf_status gf_tokenizer_init(const gf_vocab *v, gf_tokenizer **out, gf_err *err) {
    *out = NULL;
    if (!v || v->n_tokens <= 0 || v->n_tokens > GF_VOCAB_MAX_TOKENS || !v->tokens || !v->types)
        return gf_errf(err, GF_E_USAGE, "tokenizer: empty vocabulary");
    gf_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gf_errf(err, GF_E_NOMEM, "tokenizer: out of memory");
    gf_status st;
    int32_t n = v->n_tokens;
    t->kind = v->kind;
    t->n_tokens = n;
    if ((st = copy_texts(t, v, err)) != GF_OK) goto fail;
    t->type = malloc((size_t)n * sizeof *t->type);
    t->score = calloc((size_t)n, sizeof *t->score);
    if (!t->type || !t->score || gf_strmap_init(&t->map, (uint64_t)n)) goto nomem;
    memcpy(t->type, v->types, (size_t)n * sizeof *t->type);
    if (v->scores) memcpy(t->score, v->scores, (size_t)n * sizeof *t->score);
    for (int32_t i = 0; i < n; i++) {
        int32_t old = gf_strmap_insert(&t->map, t->text, (uint32_t)i);
        if (old >= 0) {
            st = gf_errf(err, GF_E_FORMAT, "vocabulary: tokens %d and %d have the same text '%.64s' "
                         "(llama.cpp cannot load this either)", (int)old, (int)i, t->text[i].p);
            goto fail;
        }
    }
    for (size_t k = 0; k < sizeof control_texts / sizeof *control_texts; k++) {
        int32_t id = gf_strmap_find(&t->map, t->text, control_texts[k], strlen(control_texts[k]));
        if (id >= 0) t->type[id] = GF_TOKEN_CONTROL;
    }
    /* Special ids and flags, with llama.cpp's defaults for keys the file lacks. */
    int spm = t->kind == GF_VOCAB_SPM;
    t->bos = v->bos_id >= 0 ? v->bos_id : spm ? 1 : 11;
    t->eos = v->eos_id >= 0 ? v->eos_id : spm ? 2 : 11;
    t->unk = v->unk_id >= 0 ? v->unk_id : spm ? 0 : -1;
    if (t->bos >= n) t->bos = -1;
    if (t->eos >= n) t->eos = -1;
    if (t->unk >= n) t->unk = -1;
    t->add_space_prefix = spm;
    t->clean_spaces = 0;
    t->add_bos = spm;
    if (!spm && (st = gf_tok_bpe_init(t, v, err)) != GF_OK) goto fail; /* sets llama-bpe's defaults */
    if (v->add_bos >= 0) t->add_bos = v->add_bos;
    t->add_eos = v->add_eos > 0;
    /* Special-token cache: longest text first, as llama.cpp matches them. */
    t->special = malloc((size_t)n * sizeof *t->special);
    if (!t->special) goto nomem;
    for (int32_t i = 0; i < n; i++)
        if (is_special_type(t->type[i])) t->special[t->n_special++] = i;
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, cmp_special, t);
    for (int b = 0; b < 256 && spm; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        t->byte_tok[b] = gf_strmap_find(&t->map, t->text, hex, 6);
        if (t->byte_tok[b] < 0) {
            char c = (char)b;
            t->byte_tok[b] = gf_strmap_find(&t->map, t->text, &c, 1);
        }
    }
    t->spm_split_words = spm;
    for (int32_t i = 0; i < n && spm; i++)
        if (t->text[i].n > 3 && memmem(t->text[i].p + 1, t->text[i].n - 1, "\xe2\x96\x81", 3)) t->spm_split_words = 0;
    if ((st = build_pieces(t, err)) != GF_OK) goto fail;
    *out = t;
    return GF_OK;
nomem:
    st = gf_errf(err, GF_E_NOMEM, "tokenizer: out of memory for %d tokens", (int)n);
fail:
    gf_tokenizer_free(t);
    return st;
}

void gf_tokenizer_free(gf_tokenizer *t) {
    if (!t) return;
    gf_tok_bpe_free(t);
    gf_strmap_free(&t->map);
    free(t->arena);
    free(t->text);
    free(t->type);
    free(t->score);
    free(t->special);
    free(t->piece_arena);
    free(t->piece);
    free(t);
}

/* ---------------------------------------------------------------- tokenize */

typedef struct {
    int32_t tok; /* -1: raw text */
    size_t off, len;
} frag;

typedef struct {
    frag *p;
    size_t n, cap;
} fragvec;

static int frag_push(fragvec *v, int32_t tok, size_t off, size_t len) {
    if (gf_array_reserve(&v->p, &v->cap, v->n + 1, 16)) return -1;
    v->p[v->n++] = (frag){tok, off, len};
    return 0;
}

/* Splits raw fragments at every occurrence of each special token's text, longest
 * tokens first (llama_vocab::tokenizer_st_partition, without per-model lstrip/rstrip). */
static int partition(const gf_tokenizer *t, const char *text, size_t len, int parse_special, fragvec *fv) {
    fragvec other = {0};
    int rc = -1;
    if (len && frag_push(fv, -1, 0, len)) goto done;
    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!parse_special && t->type[id] != GF_TOKEN_USER_DEFINED) continue;
        const gf_span *s = &t->text[id];
        other.n = 0;
        int found = 0;
        for (size_t f = 0; f < fv->n; f++) {
            frag fr = fv->p[f];
            if (fr.tok >= 0 || fr.len < s->n) {
                if (frag_push(&other, fr.tok, fr.off, fr.len)) goto done;
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            const char *m;
            while (pos < end && (m = memmem(text + pos, end - pos, s->p, s->n))) {
                size_t at = (size_t)(m - text);
                if ((at > pos && frag_push(&other, -1, pos, at - pos)) || frag_push(&other, id, at, s->n)) goto done;
                pos = at + s->n;
                found = 1;
            }
            if (pos < end && frag_push(&other, -1, pos, end - pos)) goto done;
        }
        if (found) {
            fragvec tmp = *fv;
            *fv = other;
            other = tmp;
        }
    }
    rc = 0;
done:
    free(other.p);
    return rc;
}

gf_status gf_tokenize(const gf_tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                      int32_t **ids, size_t *n_ids, gf_err *err) {
    *ids = NULL;
    *n_ids = 0;
    gf_idvec out = {0};
    fragvec fv = {0};
    gf_status st = GF_OK;
    if (!text && len) return gf_errf(err, GF_E_USAGE, "gf_tokenize: NULL text");
    if (add_special && ((t->add_bos && t->bos < 0) || (t->add_eos && t->eos < 0)))
        return gf_errf(err, GF_E_FORMAT, "vocabulary asks for a BOS/EOS token it does not have");
    if (partition(t, text, len, parse_special, &fv)) goto nomem;
    if (add_special && t->add_bos && gf_idvec_push(&out, t->bos)) goto nomem;
    int prev_special = 1; /* SPM: a leading space before the first text and after specials */
    for (size_t f = 0; f < fv.n && st == GF_OK; f++) {
        const frag *fr = &fv.p[f];
        if (fr->tok >= 0) {
            if (gf_idvec_push(&out, fr->tok)) goto nomem;
            prev_special = 1;
        } else if (t->kind == GF_VOCAB_SPM) {
            st = gf_tok_spm_encode(t, text + fr->off, fr->len, t->add_space_prefix && prev_special, &out, err);
            prev_special = 0;
        } else {
            st = gf_tok_bpe_encode(t, text + fr->off, fr->len, &out, err);
        }
    }
    if (st == GF_OK && add_special && t->add_eos && gf_idvec_push(&out, t->eos)) goto nomem;
    free(fv.p);
    if (st != GF_OK) {
        free(out.p);
        return st;
    }
    *ids = out.p ? out.p : malloc(sizeof(int32_t));
    if (!*ids) return gf_errf(err, GF_E_NOMEM, "gf_tokenize: out of memory");
    *n_ids = out.n;
    return GF_OK;
nomem:
    free(fv.p);
    free(out.p);
    return gf_errf(err, GF_E_NOMEM, "gf_tokenize: out of memory (%zu bytes of text)", len);
}

/* ---------------------------------------------------------------- detokenize */

const char *gf_token_to_piece(const gf_tokenizer *t, int32_t id, int special, size_t *len) {
    if (id < 0 || id >= t->n_tokens) return NULL;
    int32_t type = t->type[id];
    if (!special && (type == GF_TOKEN_CONTROL || type == GF_TOKEN_UNKNOWN)) {
        *len = 0;
        return "";
    }
    *len = t->piece[id].n;
    return t->piece[id].p;
}

/* llama.cpp's clean_up_tokenization_spaces passes, in place on s[0..n). */
static size_t clean_spaces(char *s, size_t n) {
    size_t total = n ? 1 : 0, total1 = n;
    for (size_t i = 1; i < total1; i++) { /* " ?", " !", " .", " ," */
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        s[total++] = x;
    }
    size_t total2 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total2; i++) { /* " ' " */
        char x = s[i];
        if (x == '\'' && i + 1 < total2 && s[i - 1] == ' ' && s[i + 1] == ' ') {
            total--;
            s[++i] = '\0';
        }
        s[total++] = x;
    }
    size_t total3 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total3; i++) { /* " 's", " 'm", " 're", " 've" */
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
            char x1 = s[i + 1];
            if (x1 == 's' || x1 == 'm') total--;
            else if (i + 2 < total3 && ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e'))) total--;
        }
        s[total++] = x;
    }
    return total;
}

gf_status gf_detokenize(const gf_tokenizer *t, const int32_t *ids, size_t n_ids, int remove_special,
                        int unparse_special, char **text, size_t *len, gf_err *err) {
    *text = NULL;
    *len = 0;
    buf b = {0};
    int remove_space = t->add_space_prefix;
    if (remove_special && t->add_bos && n_ids > 0 && ids[0] == t->bos) {
        remove_space = 0;
        ids++;
        n_ids--;
    }
    if (remove_special && t->add_eos && n_ids > 0 && ids[n_ids - 1] == t->eos) n_ids--;
    for (size_t i = 0; i < n_ids; i++) {
        size_t n;
        const char *p = gf_token_to_piece(t, ids[i], unparse_special, &n);
        if (!p) {
            free(b.p);
            return gf_errf(err, GF_E_VALUE, "gf_detokenize: token id %d at position %zu is out of range "
                           "[0, %d)", (int)ids[i], i, (int)t->n_tokens);
        }
        if (remove_space && n && *p == ' ') p++, n--;
        remove_space = 0;
        if (buf_put(&b, p, n)) goto nomem;
    }
    if (buf_put(&b, "", 0)) goto nomem;
    if (t->clean_spaces) b.n = clean_spaces(b.p, b.n);
    b.p[b.n] = '\0';
    *text = b.p;
    *len = b.n;
    return GF_OK;
nomem:
    free(b.p);
    return gf_errf(err, GF_E_NOMEM, "gf_detokenize: out of memory");
}

/* ---------------------------------------------------------------- accessors */

int32_t gf_tokenizer_n_tokens(const gf_tokenizer *t) { return t->n_tokens; }
int32_t gf_tokenizer_bos(const gf_tokenizer *t) { return t->bos; }
int32_t gf_tokenizer_eos(const gf_tokenizer *t) { return t->eos; }
int gf_tokenizer_adds_bos(const gf_tokenizer *t) { return t->add_bos; }
int gf_tokenizer_adds_eos(const gf_tokenizer *t) { return t->add_eos; }
int32_t gf_tokenizer_find(const gf_tokenizer *t, const char *text, size_t len) {
    return gf_strmap_find(&t->map, t->text, text, len);
}
