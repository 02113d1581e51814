/*
 * vocab_hf.c - a gf_vocab from a Hugging Face folder: tokenizer.json (+ tokenizer_config.json,
 * config.json), the way llama.cpp's convert_hf_to_gguf.py and gguf-py's SpecialVocab read them.
 *
 * Handles model.type "BPE" only: byte-level BPE (GGUF "gpt2") and SentencePiece-style BPE
 * with byte fallback (GGUF "llama", scores derived from the merge order since tokenizer.json
 * has none).  Every field of the untrusted JSON is type-checked (formats/json.c) and every count capped;
 * messages name the file and the key.  It does not tokenize (engine/tokenizer.c does).
 */
#include "vocab.h"
#include "../common/strmap.h"
#include "json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Split regexes of the pre-tokenizers we recognise, as tokenizer.json spells them. */
static const char QWEN2_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct {
    const char *tj_name, *tc_name, *c_name; /* file names for messages */
    cJSON *tj, *tc, *c;                     /* parsed files (tc, c may be NULL) */
    gf_vocab *v;
    unsigned char *added;                   /* (n_tokens) 1 for added tokens */
    gf_span *spans;                         /* (n_tokens) views of v->tokens for the map */
    gf_strmap map;
    gf_err *err;
} hf;

/* A token id: an exact integer in [0, GF_VOCAB_MAX_TOKENS); returns 0 and sets *out, or -1. */
static int as_id(const cJSON *j, int32_t *out) {
    int64_t v;
    if (gf_json_as_int(j, 0, GF_VOCAB_MAX_TOKENS - 1, &v)) return -1;
    *out = (int32_t)v;
    return 0;
}

/* ---------------------------------------------------------------- tokens */

static gf_status set_token(hf *h, int32_t id, const char *text, const char *key) {
    size_t n = strlen(text);
    if (n == 0 || n > GF_VOCAB_MAX_TEXT)
        return gf_errf(h->err, GF_E_FORMAT, "%s: key '%s': token %d has %zu bytes (expected 1 to %d)",
                       h->tj_name, key, (int)id, n, GF_VOCAB_MAX_TEXT);
    char *p = strndup(text, n);
    if (!p) return gf_errf(h->err, GF_E_NOMEM, "%s: out of memory", h->tj_name);
    free(h->v->tokens[id].s);
    h->v->tokens[id].s = p;
    h->v->tokens[id].len = n;
    return GF_OK;
}

/* Largest id in model.vocab and added_tokens, validating both. */
static gf_status scan_ids(hf *h, const cJSON *vocab, const cJSON *added, int32_t *max_id) {
    *max_id = -1;
    int count = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id;
        if (++count > GF_VOCAB_MAX_TOKENS)
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.vocab': more than %d entries", h->tj_name,
                           GF_VOCAB_MAX_TOKENS);
        if (!e->string || as_id(e, &id))
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.vocab': entry '%.64s' is not an integer id "
                           "in [0, %d)", h->tj_name, e->string ? e->string : "?", GF_VOCAB_MAX_TOKENS);
        if (id > *max_id) *max_id = id;
    }
    if (gf_json_absent(added)) return GF_OK;
    if (!cJSON_IsArray(added))
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'added_tokens' is not an array", h->tj_name);
    int i = 0;
    for (const cJSON *e = added->child; e; e = e->next, i++) {
        int32_t id;
        const cJSON *content = gf_json_get(e, "content"), *special = gf_json_get(e, "special");
        if (i >= GF_VOCAB_MAX_TOKENS)
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'added_tokens': too many entries", h->tj_name);
        if (!cJSON_IsObject(e) || as_id(gf_json_get(e, "id"), &id))
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'added_tokens[%d].id' is missing or not an integer "
                           "in [0, %d)", h->tj_name, i, GF_VOCAB_MAX_TOKENS);
        if (!cJSON_IsString(content))
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'added_tokens[%d].content' is missing or not a string",
                           h->tj_name, i);
        if (!gf_json_absent(special) && !cJSON_IsBool(special))
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'added_tokens[%d].special' is not a bool",
                           h->tj_name, i);
        if (id > *max_id) *max_id = id;
    }
    return GF_OK;
}

static gf_status fill_tokens(hf *h, const cJSON *vocab, const cJSON *added) {
    gf_vocab *v = h->v;
    gf_status st;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = 0;
        if (as_id(e, &id)) continue; /* cannot happen: validated by scan_ids */
        if (v->tokens[id].s)
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.vocab': id %d is given to both '%.64s' and "
                           "'%.64s'", h->tj_name, (int)id, v->tokens[id].s, e->string);
        if ((st = set_token(h, id, e->string, "model.vocab")) != GF_OK) return st;
    }
    int i = 0;
    for (const cJSON *e = gf_json_absent(added) ? NULL : added->child; e; e = e->next, i++) {
        int32_t id = 0;
        if (as_id(gf_json_get(e, "id"), &id)) continue; /* validated by scan_ids */
        if (h->added[id])
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'added_tokens[%d]': id %d is added twice",
                           h->tj_name, i, (int)id);
        h->added[id] = 1;
        /* An added token's content is what the id means, as in transformers. */
        if ((st = set_token(h, id, gf_json_get(e, "content")->valuestring, "added_tokens")) != GF_OK) return st;
        v->types[id] = cJSON_IsTrue(gf_json_get(e, "special")) ? GF_TOKEN_CONTROL : GF_TOKEN_USER_DEFINED;
    }
    for (int32_t id = 0; id < v->n_tokens; id++) {
        if (v->tokens[id].s) continue;
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%d]", (int)id);
        if ((st = set_token(h, id, buf, "model.vocab")) != GF_OK) return st;
        v->types[id] = GF_TOKEN_UNUSED;
    }
    /* llama.cpp refuses a vocabulary with two tokens of the same text. */
    h->spans = malloc((size_t)v->n_tokens * sizeof *h->spans);
    if (!h->spans || gf_strmap_init(&h->map, (uint64_t)v->n_tokens))
        return gf_errf(h->err, GF_E_NOMEM, "%s: out of memory", h->tj_name);
    for (int32_t id = 0; id < v->n_tokens; id++) {
        h->spans[id].p = v->tokens[id].s;
        h->spans[id].n = (uint32_t)v->tokens[id].len;
    }
    for (int32_t id = 0; id < v->n_tokens; id++) {
        int32_t old = gf_strmap_insert(&h->map, h->spans, (uint32_t)id);
        if (old >= 0)
            return gf_errf(h->err, GF_E_FORMAT, "%s: token text '%.64s' is used by both id %d and id %d",
                           h->tj_name, v->tokens[id].s, (int)old, (int)id);
    }
    return GF_OK;
}

static int is_byte_token(const gf_str *t) {
    static const char hex[] = "0123456789abcdefABCDEF";
    return t->len == 6 && memcmp(t->s, "<0x", 3) == 0 && t->s[5] == '>' && t->s[3] && t->s[4] &&
           strchr(hex, t->s[3]) && strchr(hex, t->s[4]);
}

/* ---------------------------------------------------------------- merges */

/* Splits merge i into its two parts. String form "a b" splits at the first space after
 * the first byte, as llama.cpp does; pair form ["a","b"] is re-spelled "a b" with spaces
 * inside the parts written as U+0120, as gguf-py does. */
static gf_status read_merges(hf *h, const cJSON *merges, int keep) {
    gf_vocab *v = h->v;
    int n = cJSON_GetArraySize(merges);
    if (n < 0 || n > GF_VOCAB_MAX_MERGES)
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.merges': too many entries", h->tj_name);
    float *scores = NULL;
    int32_t *first = NULL;
    if (v->kind == GF_VOCAB_SPM) {
        scores = v->scores = calloc((size_t)v->n_tokens, sizeof *v->scores);
        first = malloc((size_t)v->n_tokens * sizeof *first);
        if (!scores || !first) goto nomem;
        for (int32_t i = 0; i < v->n_tokens; i++) first[i] = -1;
    }
    if (keep) {
        v->merges = calloc(n ? (size_t)n : 1, sizeof *v->merges);
        if (!v->merges) goto nomem;
    }
    int i = 0;
    for (const cJSON *e = merges->child; e; e = e->next, i++) {
        const char *a, *b;
        size_t na, nb;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!sp || !sp[1]) {
                free(first);
                return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.merges[%d]': '%.64s' is not 'left right'",
                               h->tj_name, i, s);
            }
            a = s, na = (size_t)(sp - s), b = sp + 1, nb = strlen(sp + 1);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next) && e->child->valuestring[0] && e->child->next->valuestring[0]) {
            a = e->child->valuestring, na = strlen(a), b = e->child->next->valuestring, nb = strlen(b);
        } else {
            free(first);
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.merges[%d]' is neither \"left right\" nor "
                           "a pair of non-empty strings", h->tj_name, i);
        }
        if (na > GF_VOCAB_MAX_TEXT || nb > GF_VOCAB_MAX_TEXT) {
            free(first);
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.merges[%d]' is too long", h->tj_name, i);
        }
        if (scores) {
            /* The token a merge produces ranks by the first merge producing it. */
            char *cat = malloc(na + nb + 1);
            if (!cat) goto nomem;
            memcpy(cat, a, na);
            memcpy(cat + na, b, nb);
            int32_t id = gf_strmap_find(&h->map, h->spans, cat, na + nb);
            free(cat);
            if (id >= 0 && first[id] < 0) first[id] = i;
        }
        if (keep) {
            int pair = !cJSON_IsString(e);
            size_t cap = 2 * (na + nb) + 2, o = 0; /* a space may become 2 bytes */
            char *m = malloc(cap);
            if (!m) goto nomem;
            for (int part = 0; part < 2; part++) {
                const char *s = part ? b : a;
                size_t ns = part ? nb : na;
                if (part) m[o++] = ' ';
                for (size_t k = 0; k < ns; k++) {
                    if (pair && s[k] == ' ') m[o++] = (char)0xC4, m[o++] = (char)0xA0; /* U+0120 */
                    else m[o++] = s[k];
                }
            }
            m[o] = '\0';
            v->merges[i].s = m;
            v->merges[i].len = o;
            v->n_merges = i + 1;
        }
    }
    if (scores) {
        /* score -rank for merge products; other normal tokens after them in id order;
         * control, byte, user-defined and unused tokens 0 (llama2.c's layout). */
        int64_t next = n;
        for (int32_t id = 0; id < v->n_tokens; id++) {
            if (v->types[id] != GF_TOKEN_NORMAL) continue;
            scores[id] = first[id] >= 0 ? -(float)first[id] : -(float)next++;
        }
    }
    free(first);
    return GF_OK;
nomem:
    free(first);
    return gf_errf(h->err, GF_E_NOMEM, "%s: out of memory reading merges", h->tj_name);
}

/* ---------------------------------------------------------------- pre-tokenizer */

static gf_status detect_pre(hf *h) {
    const cJSON *pt = gf_json_get(h->tj, "pre_tokenizer"), *dec = gf_json_get(h->tj, "decoder");
    const cJSON *items = NULL, *one[1] = {pt};
    const char *regex = NULL;
    int byte_level = 0, bl_regex = 0, n = 0;
    const cJSON *type = gf_json_get(pt, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "Sequence") == 0) {
        items = gf_json_get(pt, "pretokenizers");
        if (!cJSON_IsArray(items))
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'pre_tokenizer.pretokenizers' is not an array",
                           h->tj_name);
    }
    for (const cJSON *e = items ? items->child : one[0]; e; e = items ? e->next : NULL, n++) {
        const cJSON *t = gf_json_get(e, "type");
        if (n > 1000 || !cJSON_IsString(t)) break;
        if (strcmp(t->valuestring, "Split") == 0 && !regex) {
            const cJSON *re = gf_json_get(gf_json_get(e, "pattern"), "Regex");
            if (cJSON_IsString(re)) regex = re->valuestring;
        } else if (strcmp(t->valuestring, "ByteLevel") == 0) {
            const cJSON *ur = gf_json_get(e, "use_regex");
            byte_level = 1;
            bl_regex = gf_json_absent(ur) || cJSON_IsTrue(ur);
        }
    }
    const cJSON *dt = gf_json_get(dec, "type");
    if (cJSON_IsString(dt) && strcmp(dt->valuestring, "ByteLevel") == 0) byte_level = 1;
    if (!byte_level)
        return gf_errf(h->err, GF_E_UNSUPPORTED, "%s: key 'pre_tokenizer': a BPE model without byte_fallback "
                       "must be byte-level (ByteLevel pre-tokenizer or decoder)", h->tj_name);
    const char *pre = NULL;
    if (regex && strcmp(regex, QWEN2_REGEX) == 0) pre = "qwen2";
    else if (regex && strcmp(regex, LLAMA3_REGEX) == 0) pre = "llama-bpe";
    else if (!regex && bl_regex) pre = "gpt-2";
    if (!pre)
        return gf_errf(h->err, GF_E_UNSUPPORTED, "%s: key 'pre_tokenizer': split pattern '%.100s' is not one "
                       "gguf-forge recognises (Qwen2's, Llama 3's, GPT-2's); like llama.cpp's converter, it "
                       "will not label the vocabulary 'default' and change how text is split", h->tj_name,
                       regex ? regex : "(none)");
    snprintf(h->v->pre, sizeof h->v->pre, "%s", pre);
    return GF_OK;
}

/* ---------------------------------------------------------------- special tokens */

static gf_status special_ids(hf *h) {
    static const char *const names[4] = {"bos", "eos", "unk", "pad"};
    gf_vocab *v = h->v;
    int32_t *ids[4] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id};
    const cJSON *added = gf_json_get(h->tj, "added_tokens");
    char key[32];
    for (int k = 0; k < 4 && h->tc; k++) {
        snprintf(key, sizeof key, "%s_token", names[k]);
        const cJSON *e = gf_json_get(h->tc, key);
        const char *content = NULL;
        if (cJSON_IsString(e)) content = e->valuestring;
        else if (cJSON_IsObject(e) && cJSON_IsString(gf_json_get(e, "content"))) content = gf_json_get(e, "content")->valuestring;
        if (!content || !cJSON_IsArray(added)) continue;
        for (const cJSON *a = added->child; a; a = a->next) {
            const cJSON *c = gf_json_get(a, "content");
            if (cJSON_IsString(c) && strcmp(c->valuestring, content) == 0) {
                int32_t id = 0;
                if (as_id(gf_json_get(a, "id"), &id)) break; /* validated by scan_ids */
                if (id < v->n_tokens && *ids[k] < 0) *ids[k] = id;
                break;
            }
        }
    }
    for (int k = 0; k < 4 && h->c; k++) {
        snprintf(key, sizeof key, "%s_token_id", names[k]);
        const cJSON *e = gf_json_get(h->c, key);
        /* Only a plain integer counts (gguf-py skips lists such as eos_token_id: [1, 2]). */
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble)) continue;
        if (e->valuedouble < 0)
            return gf_errf(h->err, GF_E_FORMAT, "%s: key '%s' is negative", h->c_name, key);
        if (e->valuedouble < v->n_tokens && *ids[k] < 0) *ids[k] = (int32_t)e->valuedouble;
    }
    return GF_OK;
}

static gf_status flags_and_template(hf *h) {
    gf_vocab *v = h->v;
    const cJSON *ab = gf_json_get(h->tc, "add_bos_token"), *ae = gf_json_get(h->tc, "add_eos_token");
    const cJSON *pp = gf_json_get(h->tj, "post_processor"), *ppt = gf_json_get(pp, "type");
    int templ = cJSON_IsString(ppt) && strcmp(ppt->valuestring, "TemplateProcessing") == 0;
    const cJSON *single = templ ? gf_json_get(pp, "single") : NULL;
    if (cJSON_IsBool(ab)) v->add_bos = cJSON_IsTrue(ab);
    else v->add_bos = cJSON_IsArray(single) && single->child && gf_json_get(single->child, "SpecialToken");
    if (cJSON_IsBool(ae)) v->add_eos = cJSON_IsTrue(ae);
    else if (cJSON_IsArray(single) && single->child) {
        const cJSON *last = single->child;
        while (last->next) last = last->next;
        v->add_eos = last != single->child && gf_json_get(last, "SpecialToken") != NULL;
    }
    const cJSON *ct = gf_json_get(h->tc, "chat_template");
    const char *tmpl = NULL;
    if (cJSON_IsString(ct)) tmpl = ct->valuestring;
    else if (cJSON_IsArray(ct)) /* named templates: keep the default one */
        for (const cJSON *e = ct->child; e; e = e->next) {
            const cJSON *nm = gf_json_get(e, "name"), *t = gf_json_get(e, "template");
            if (cJSON_IsString(nm) && strcmp(nm->valuestring, "default") == 0 && cJSON_IsString(t))
                tmpl = t->valuestring;
        }
    if (tmpl) {
        size_t n = strlen(tmpl);
        if (n > GF_VOCAB_MAX_TEMPLATE)
            return gf_errf(h->err, GF_E_FORMAT, "%s: key 'chat_template' is %zu bytes long (at most %u)",
                           h->tc_name, n, GF_VOCAB_MAX_TEMPLATE);
        if (!(v->chat_template = strndup(tmpl, n)))
            return gf_errf(h->err, GF_E_NOMEM, "%s: out of memory", h->tc_name);
    }
    return GF_OK;
}

/* ---------------------------------------------------------------- entry points */

static gf_status build(hf *h, int64_t n_rows) {
    gf_status st;
    const cJSON *model = gf_json_get(h->tj, "model");
    if (!cJSON_IsObject(model))
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model' is missing or not an object", h->tj_name);
    const cJSON *type = gf_json_get(model, "type"), *bf = gf_json_get(model, "byte_fallback");
    if (!cJSON_IsString(type))
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.type' is missing or not a string", h->tj_name);
    if (strcmp(type->valuestring, "BPE") != 0)
        return gf_errf(h->err, GF_E_UNSUPPORTED, "%s: key 'model.type': '%.32s' models are not supported "
                       "(only BPE)", h->tj_name, type->valuestring);
    if (!gf_json_absent(bf) && !cJSON_IsBool(bf))
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.byte_fallback' is not a bool", h->tj_name);
    gf_vocab_kind kind = cJSON_IsTrue(bf) ? GF_VOCAB_SPM : GF_VOCAB_BPE;
    const cJSON *vocab = gf_json_get(model, "vocab"), *added = gf_json_get(h->tj, "added_tokens");
    const cJSON *merges = gf_json_get(model, "merges");
    if (!cJSON_IsObject(vocab))
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.vocab' is missing or not an object", h->tj_name);
    if (!gf_json_absent(merges) && !cJSON_IsArray(merges))
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.merges' is not an array", h->tj_name);
    int32_t max_id;
    if ((st = scan_ids(h, vocab, added, &max_id)) != GF_OK) return st;
    if (max_id < 0) return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.vocab' is empty", h->tj_name);
    if (kind == GF_VOCAB_BPE && !cJSON_GetArraySize(merges))
        return gf_errf(h->err, GF_E_FORMAT, "%s: key 'model.merges' is missing or empty", h->tj_name);
    if (n_rows < 0 || n_rows > GF_VOCAB_MAX_TOKENS)
        return gf_errf(h->err, GF_E_USAGE, "%s: embedding row count %lld out of range", h->tj_name,
                       (long long)n_rows);
    if (n_rows > 0 && max_id >= n_rows)
        return gf_errf(h->err, GF_E_FORMAT, "%s: token id %d does not fit the embedding's %lld rows",
                       h->tj_name, (int)max_id, (long long)n_rows);
    /* Without a row count to vouch for it, a few bytes of JSON must not demand millions
     * of padding tokens: ids may leave gaps, but not more gaps than tokens. */
    int vocab_n = cJSON_GetArraySize(vocab) + (cJSON_IsArray(added) ? cJSON_GetArraySize(added) : 0);
    if (n_rows == 0 && max_id > 2 * (int64_t)vocab_n + 1024)
        return gf_errf(h->err, GF_E_FORMAT, "%s: token id %d is far beyond the %d tokens defined", h->tj_name,
                       (int)max_id, vocab_n);
    int32_t n = n_rows > 0 ? (int32_t)n_rows : max_id + 1;
    if (!(h->v = gf_vocab_alloc(n)) || !(h->added = calloc((size_t)n, 1)))
        return gf_errf(h->err, GF_E_NOMEM, "%s: out of memory for %d tokens", h->tj_name, (int)n);
    h->v->kind = kind;
    if ((st = fill_tokens(h, vocab, added)) != GF_OK) return st;
    const cJSON *unk = gf_json_get(model, "unk_token");
    if (cJSON_IsString(unk)) {
        int32_t id = gf_strmap_find(&h->map, h->spans, unk->valuestring, strlen(unk->valuestring));
        if (id >= 0) h->v->types[id] = GF_TOKEN_UNKNOWN;
    }
    if (kind == GF_VOCAB_SPM)
        for (int32_t id = 0; id < n; id++)
            if (!h->added[id] && is_byte_token(&h->v->tokens[id])) h->v->types[id] = GF_TOKEN_BYTE;
    if (kind == GF_VOCAB_BPE && (st = detect_pre(h)) != GF_OK) return st;
    if (!gf_json_absent(merges) && (st = read_merges(h, merges, kind == GF_VOCAB_BPE)) != GF_OK) return st;
    if (kind == GF_VOCAB_SPM && !h->v->scores && !(h->v->scores = calloc((size_t)n, sizeof(float))))
        return gf_errf(h->err, GF_E_NOMEM, "%s: out of memory", h->tj_name);
    if ((st = special_ids(h)) != GF_OK) return st;
    if (h->v->unk_id >= 0 && h->v->types[h->v->unk_id] == GF_TOKEN_CONTROL) h->v->types[h->v->unk_id] = GF_TOKEN_UNKNOWN;
    return flags_and_template(h);
}

gf_status gf_vocab_from_hf_text(const gf_vocab_hf_text *in, int64_t n_rows, gf_vocab **out, gf_err *err) {
    *out = NULL;
    hf h = {
        .tj_name = in->tokenizer_json_name ? in->tokenizer_json_name : "tokenizer.json",
        .tc_name = in->tokenizer_config_name ? in->tokenizer_config_name : "tokenizer_config.json",
        .c_name = in->config_name ? in->config_name : "config.json",
        .err = err,
    };
    if (!in->tokenizer_json) return gf_errf(err, GF_E_USAGE, "%s: no text", h.tj_name);
    gf_status st = gf_json_parse_object(in->tokenizer_json, in->tokenizer_json_len, h.tj_name, &h.tj, err);
    if (st == GF_OK && in->tokenizer_config)
        st = gf_json_parse_object(in->tokenizer_config, in->tokenizer_config_len, h.tc_name, &h.tc, err);
    if (st == GF_OK && in->config) st = gf_json_parse_object(in->config, in->config_len, h.c_name, &h.c, err);
    if (st == GF_OK) st = build(&h, n_rows);
    if (st == GF_OK) {
        *out = h.v;
        h.v = NULL;
    }
    gf_vocab_free(h.v);
    free(h.added);
    free(h.spans);
    gf_strmap_free(&h.map);
    cJSON_Delete(h.tj);
    cJSON_Delete(h.tc);
    cJSON_Delete(h.c);
    return st;
}

/* Reads dir/name into *text; an absent optional file leaves *text NULL. */
static gf_status read_opt(const char *dir, const char *name, size_t cap, int required, char **path,
                          char **text, size_t *len, gf_err *err) {
    *text = NULL;
    *len = 0;
    size_t n = strlen(dir) + strlen(name) + 2;
    if (!(*path = malloc(n))) return gf_errf(err, GF_E_NOMEM, "out of memory");
    snprintf(*path, n, "%s/%s", dir, name);
    FILE *f = fopen(*path, "rb");
    if (!f && !required) return GF_OK;
    if (f) fclose(f);
    return gf_read_file(*path, cap, text, len, err);
}

gf_status gf_vocab_from_hf(const char *model_dir, int64_t n_rows, gf_vocab **out, gf_err *err) {
    *out = NULL;
    gf_vocab_hf_text in = {0};
    char *p[3] = {NULL, NULL, NULL}, *t[3] = {NULL, NULL, NULL};
    gf_status st = read_opt(model_dir, "tokenizer.json", GF_VOCAB_MAX_JSON, 1, &p[0], &t[0],
                            &in.tokenizer_json_len, err);
    if (st == GF_OK)
        st = read_opt(model_dir, "tokenizer_config.json", GF_VOCAB_MAX_CONFIG, 0, &p[1], &t[1],
                      &in.tokenizer_config_len, err);
    if (st == GF_OK)
        st = read_opt(model_dir, "config.json", GF_VOCAB_MAX_CONFIG, 0, &p[2], &t[2], &in.config_len, err);
    if (st == GF_OK) {
        in.tokenizer_json = t[0], in.tokenizer_json_name = p[0];
        in.tokenizer_config = t[1], in.tokenizer_config_name = p[1];
        in.config = t[2], in.config_name = p[2];
        st = gf_vocab_from_hf_text(&in, n_rows, out, err);
    }
    for (int i = 0; i < 3; i++) free(p[i]), free(t[i]);
    return st;
}
