/*
 * tokenizer_bpe.c - byte-level BPE ("gpt2" vocabularies) as llama.cpp does it:
 * split the text with the pre-tokenizer regex of tokenizer.ggml.pre, map each byte
 * to its GPT-2 code point, then merge the lowest-ranked adjacent pair first.
 *
 * The regexes run on PCRE2 with Unicode properties.  llama.cpp runs the qwen2 one
 * through std::regex on a "collapsed" text (one byte per code point class); the two
 * agree because \s is spelled out here as the Unicode White_Space set llama.cpp uses
 * (PCRE2's own \s would add U+180E).  Remaining difference: the Unicode version of
 * the letter/number tables (PCRE2 10.42: Unicode 14) for recently added characters.
 * Invalid UTF-8 becomes U+FFFD per bad byte, as in llama.cpp.
 */
#include "tokenizer_impl.h"

#include "../common/heap.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- regexes */

/* Unicode White_Space, the set llama.cpp's unicode tables call whitespace. */
#define WS "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define TAIL " ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"
#define GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])"

typedef struct {
    const char *names[6];             /* tokenizer.ggml.pre spellings */
    const char *re[GF_TOK_MAX_REGEX]; /* applied in turn, each splitting the pieces of the last */
    int ignore_merges, add_bos, clean_spaces;
} pre_def;

static const pre_def pre_defs[] = {
    {.names = {"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"},
     .re = {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" TAIL}},
    {.names = {"llama-bpe", "llama3", "llama-v3", "falcon3"},
     .re = {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" TAIL},
     .ignore_merges = 1, .add_bos = 1, .clean_spaces = 1},
    {.names = {"gpt-2", "phi-2", "roberta-bpe", "mpt", "olmo", "jais"}, .re = {GPT2}, .clean_spaces = 1},
    {.names = {"smollm"}, .re = {"\\p{N}", GPT2}}, /* digits one by one, then GPT-2's split; spaces kept */
    {.names = {"default", ""},
     .re = {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, .clean_spaces = 1},
};

/* ---------------------------------------------------------------- merges table */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static uint64_t pair_key(int32_t l, int32_t r) { return ((uint64_t)(uint32_t)(l + 1) << 32) | (uint32_t)r; }

static const gf_merge_slot *merge_find(const gf_tokenizer *t, uint64_t key) {
    if (!t->merge) return NULL;
    for (uint64_t i = mix64(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        if (t->merge[i].key == key) return &t->merge[i];
        if (!t->merge[i].key) return NULL;
    }
}

static int utf8_put(char *o, uint32_t cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xc0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static gf_status build_merges(gf_tokenizer *t, const gf_vocab *v, gf_err *err) {
    int32_t n = v->merges ? v->n_merges : 0;
    t->n_merges = n;
    uint64_t total = 0, cap = 16;
    for (int32_t i = 0; i < n; i++) total += v->merges[i].len;
    while (cap < 2 * (uint64_t)n + 2) cap <<= 1;
    t->merge_mask = cap - 1;
    t->merge = calloc(cap, sizeof *t->merge);
    t->merge_text = malloc((n ? (size_t)n : 1) * sizeof *t->merge_text);
    t->merge_arena = malloc((size_t)total + 1);
    char *cat = malloc(2 * (size_t)GF_VOCAB_MAX_TEXT + 2);
    if (!t->merge || !t->merge_text || !t->merge_arena || !cat || gf_strmap_init(&t->merge_map, (uint64_t)n)) {
        free(cat);
        return gf_errf(err, GF_E_NOMEM, "tokenizer: out of memory for %d merges", (int)n);
    }
    size_t o = 0;
    for (int32_t i = 0; i < n; i++) {
        const gf_str *m = &v->merges[i];
        memcpy(t->merge_arena + o, m->s, m->len);
        t->merge_text[i].p = t->merge_arena + o;
        t->merge_text[i].n = (uint32_t)m->len;
        o += m->len;
        gf_strmap_insert(&t->merge_map, t->merge_text, (uint32_t)i); /* first rank wins, as in llama.cpp */
        /* llama.cpp splits at the first space after the first byte */
        const char *sp = m->len > 1 ? memchr(m->s + 1, ' ', m->len - 1) : NULL;
        if (!sp) continue;
        size_t nl = (size_t)(sp - m->s), nr = m->len - nl - 1;
        if (nl + nr > 2 * (size_t)GF_VOCAB_MAX_TEXT) continue;
        int32_t l = gf_strmap_find(&t->map, t->text, m->s, nl), r = gf_strmap_find(&t->map, t->text, sp + 1, nr);
        if (l < 0 || r < 0) continue;
        uint64_t key = pair_key(l, r);
        uint64_t j = mix64(key) & t->merge_mask;
        while (t->merge[j].key && t->merge[j].key != key) j = (j + 1) & t->merge_mask;
        if (t->merge[j].key) continue;
        memcpy(cat, m->s, nl);
        memcpy(cat + nl, sp + 1, nr);
        t->merge[j] = (gf_merge_slot){.key = key, .rank = i, .result = gf_strmap_find(&t->map, t->text, cat, nl + nr)};
    }
    free(cat);
    return GF_OK;
}

gf_status gf_tok_bpe_init(gf_tokenizer *t, const gf_vocab *v, gf_err *err) {
    const pre_def *pd = NULL;
    for (size_t i = 0; i < sizeof pre_defs / sizeof *pre_defs && !pd; i++)
        for (int k = 0; k < 6 && pre_defs[i].names[k]; k++)
            if (strcmp(v->pre, pre_defs[i].names[k]) == 0) pd = &pre_defs[i];
    if (!pd)
        return gf_errf(err, GF_E_UNSUPPORTED, "vocabulary: pre-tokenizer '%.63s' is not supported (qwen2, "
                       "llama-bpe, gpt-2, smollm, default)", v->pre);
    t->ignore_merges = pd->ignore_merges;
    t->add_bos = pd->add_bos;
    t->clean_spaces = pd->clean_spaces;
    for (int k = 0; k < GF_TOK_MAX_REGEX && pd->re[k]; k++) {
        int code;
        PCRE2_SIZE at;
        t->re[k] = pcre2_compile((PCRE2_SPTR)pd->re[k], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
        if (!t->re[k]) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(code, msg, sizeof msg);
            return gf_errf(err, GF_E_UNSUPPORTED, "tokenizer: pre-tokenizer regex does not compile at %zu: %s",
                           (size_t)at, (const char *)msg);
        }
        pcre2_jit_compile(t->re[k], PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
        t->n_re = k + 1;
    }
    /* GPT-2's byte map: printable Latin-1 bytes stand for themselves, the others for
     * U+0100 upwards in byte order. */
    int next = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        t->byte_cp[b] = (uint16_t)(printable ? b : 0x100 + next++);
        char u[4];
        int n = utf8_put(u, t->byte_cp[b]);
        t->byte_tok[b] = gf_strmap_find(&t->map, t->text, u, (size_t)n);
    }
    return build_merges(t, v, err);
}

void gf_tok_bpe_free(gf_tokenizer *t) {
    for (int k = 0; k < GF_TOK_MAX_REGEX; k++) pcre2_code_free(t->re[k]);
    free(t->merge);
    free(t->merge_text);
    free(t->merge_arena);
    gf_strmap_free(&t->merge_map);
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    uint32_t start, n; /* bytes of the word */
    int32_t prev, next, id;
} sym;

typedef struct {
    int32_t rank, left, right, result; /* result -2: look the text up on merge */
    uint32_t ln, rn;
} bigram;

static int before(const bigram *a, const bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

GF_HEAP_DEFINE(bigram_heap, bigram, before)

typedef struct {
    const gf_tokenizer *t;
    const unsigned char *w; /* current word */
    sym *s;
    bigram_heap h;          /* pairs that may merge, best first */
    char *enc;              /* scratch for byte-encoded texts */
    gf_idvec *out;
} session;

/* Byte-encoded text of word bytes [start, start+n) into ss->enc; returns its length. */
static size_t encode(const session *ss, uint32_t start, uint32_t n, char *o) {
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) k += (size_t)utf8_put(o + k, ss->t->byte_cp[ss->w[start + i]]);
    return k;
}

static int add_bigram(session *ss, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return 0;
    const gf_tokenizer *t = ss->t;
    const sym *a = &ss->s[l], *b = &ss->s[r];
    bigram bg = {.left = l, .right = r, .ln = a->n, .rn = b->n};
    if (a->id >= 0 && b->id >= 0) {
        const gf_merge_slot *m = merge_find(t, pair_key(a->id, b->id));
        if (!m) return 0;
        bg.rank = m->rank;
        bg.result = m->result;
    } else {
        /* a part that is not a token: look the merge up by its text */
        if (!t->n_merges) return 0;
        size_t k = encode(ss, a->start, a->n, ss->enc);
        ss->enc[k++] = ' ';
        k += encode(ss, b->start, b->n, ss->enc + k);
        int32_t rank = gf_strmap_find(&t->merge_map, t->merge_text, ss->enc, k);
        if (rank < 0) return 0;
        bg.rank = rank;
        bg.result = -2;
    }
    return bigram_heap_push(&ss->h, bg);
}

static int bpe_word(session *ss, const unsigned char *w, uint32_t m) {
    const gf_tokenizer *t = ss->t;
    ss->w = w;
    if (t->ignore_merges) {
        size_t k = encode(ss, 0, m, ss->enc);
        int32_t id = gf_strmap_find(&t->map, t->text, ss->enc, k);
        if (id >= 0) return gf_idvec_push(ss->out, id);
    }
    for (uint32_t i = 0; i < m; i++)
        ss->s[i] = (sym){.start = i, .n = 1, .prev = (int32_t)i - 1, .next = i + 1 < m ? (int32_t)i + 1 : -1,
                         .id = t->byte_tok[w[i]]};
    ss->h.n = 0;
    for (uint32_t i = 1; i < m; i++)
        if (add_bigram(ss, (int32_t)i - 1, (int32_t)i)) return -1;
    while (ss->h.n) {
        bigram bg = bigram_heap_pop(&ss->h);
        sym *a = &ss->s[bg.left], *b = &ss->s[bg.right];
        if (!a->n || !b->n || a->n != bg.ln || b->n != bg.rn) continue; /* outdated */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) ss->s[b->next].prev = bg.left;
        if (bg.result == -2) {
            size_t k = encode(ss, a->start, a->n, ss->enc);
            bg.result = gf_strmap_find(&t->map, t->text, ss->enc, k);
        }
        a->id = bg.result;
        if (add_bigram(ss, a->prev, bg.left) || add_bigram(ss, bg.left, a->next)) return -1;
    }
    for (int32_t i = 0; i >= 0 && m; i = ss->s[i].next) {
        const sym *s = &ss->s[i];
        if (s->id >= 0) {
            if (gf_idvec_push(ss->out, s->id)) return -1;
            continue;
        }
        /* not a token: llama.cpp emits the tokens of its single bytes that exist */
        size_t k = encode(ss, s->start, s->n, ss->enc);
        for (size_t j = 0; j < k; j++) {
            int32_t id = gf_strmap_find(&t->map, t->text, ss->enc + j, 1);
            if (id >= 0 && gf_idvec_push(ss->out, id)) return -1;
        }
    }
    return 0;
}

/* Re-encodes text as llama.cpp sees it (bad bytes -> U+FFFD) into norm, and a copy
 * for the regex with surrogates (which PCRE2 rejects) as U+E000, another code point
 * of class C, so that byte offsets agree.  Both need 3*len bytes. */
static size_t normalize(const unsigned char *s, size_t len, char *norm, char *view) {
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = gf_tok_utf8_decode(s + i, len - i, &cp);
        if (!n || cp > 0x10FFFF) n = 1, cp = 0xFFFD; /* llama.cpp would throw past U+10FFFF */
        int k = utf8_put(norm + o, cp);
        if (cp >= 0xD800 && cp <= 0xDFFF) utf8_put(view + o, 0xE000);
        else memcpy(view + o, norm + o, (size_t)k);
        o += (size_t)k;
        i += n;
    }
    return o;
}

typedef struct {
    size_t *p; /* word end offsets */
    size_t n, cap;
} cuts;

static int cut(cuts *c, size_t end) {
    if (gf_array_reserve(&c->p, &c->cap, c->n + 1, 256)) return -1;
    c->p[c->n++] = end;
    return 0;
}

/* Splits view[from, to) by regex re into *out: every match is a word, and so is
 * every gap between matches (llama.cpp's unicode_regex_split). */
static gf_status split(const pcre2_code *re, pcre2_match_data *md, const char *view, size_t from, size_t to,
                       cuts *out, gf_err *err) {
    size_t pos = 0, last = 0, n = to - from;
    PCRE2_SPTR subj = (PCRE2_SPTR)(view + from);
    while (pos < n) {
        int rc = pcre2_match(re, subj, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(re, subj, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return gf_errf(err, GF_E_VALUE, "gf_tokenize: pre-tokenizer regex failed (PCRE2 error %d)", rc);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e <= s) { /* an empty match: step over one code point */
            pos = s + 1;
            while (pos < n && (subj[pos] & 0xc0) == 0x80) pos++;
            continue;
        }
        if ((s > last && cut(out, from + s)) || cut(out, from + e)) goto nomem;
        last = pos = e;
    }
    if (last < n && cut(out, to)) goto nomem;
    return GF_OK;
nomem:
    return gf_errf(err, GF_E_NOMEM, "gf_tokenize: out of memory");
}

gf_status gf_tok_bpe_encode(const gf_tokenizer *t, const char *text, size_t len, gf_idvec *out, gf_err *err) {
    gf_status st = GF_OK;
    char *norm = NULL, *view = NULL;
    cuts a = {0}, b = {0};
    pcre2_match_data *md = NULL;
    session ss = {.t = t, .out = out};
    if (len > (SIZE_MAX - 16) / 8) return gf_errf(err, GF_E_NOMEM, "gf_tokenize: text too large");
    norm = malloc(3 * len + 1);
    view = malloc(3 * len + 1);
    if (!norm || !view) goto nomem;
    size_t n = normalize((const unsigned char *)text, len, norm, view);
    /* each regex splits the words of the previous one */
    if (cut(&a, n)) goto nomem;
    for (int k = 0; k < t->n_re; k++) {
        if (!(md = pcre2_match_data_create_from_pattern(t->re[k], NULL))) goto nomem;
        b.n = 0;
        for (size_t i = 0, from = 0; i < a.n; from = a.p[i++])
            if ((st = split(t->re[k], md, view, from, a.p[i], &b, err)) != GF_OK) goto done;
        cuts tmp = a;
        a = b;
        b = tmp;
        pcre2_match_data_free(md);
        md = NULL;
    }
    size_t longest = 0;
    for (size_t i = 0, from = 0; i < a.n; from = a.p[i++])
        if (a.p[i] - from > longest) longest = a.p[i] - from;
    if (longest > UINT32_MAX / 8) {
        st = gf_errf(err, GF_E_VALUE, "gf_tokenize: a %zu-byte word is too long", longest);
        goto done;
    }
    ss.s = malloc((longest ? longest : 1) * sizeof *ss.s);
    ss.enc = malloc(4 * longest + 8);
    if (!ss.s || !ss.enc) goto nomem;
    for (size_t i = 0, from = 0; i < a.n; from = a.p[i++])
        if (a.p[i] > from && bpe_word(&ss, (const unsigned char *)norm + from, (uint32_t)(a.p[i] - from)))
            goto nomem;
    goto done;
nomem:
    st = gf_errf(err, GF_E_NOMEM, "gf_tokenize: out of memory (%zu bytes of text)", len);
done:
    pcre2_match_data_free(md);
    free(norm);
    free(view);
    free(a.p);
    free(b.p);
    free(ss.s);
    bigram_heap_free(&ss.h);
    free(ss.enc);
    return st;
}
