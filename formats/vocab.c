/*
 * vocab.c - the gf_vocab lifecycle and its GGUF form (tokenizer.ggml.* keys).
 *
 * Writes and reads the keys llama.cpp's loader uses (src/llama-vocab.cpp, key names
 * from gguf-py/gguf/constants.py): model, pre, tokens, scores, token_type, merges,
 * the special token ids, add_bos/add_eos and tokenizer.chat_template.  Reading
 * validates every type and count; it does not interpret the vocabulary (that is
 * engine/tokenizer.c).  The Hugging Face side lives in vocab_hf.c.
 */
#include "vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MODEL    "tokenizer.ggml.model"
#define KEY_PRE      "tokenizer.ggml.pre"
#define KEY_TOKENS   "tokenizer.ggml.tokens"
#define KEY_SCORES   "tokenizer.ggml.scores"
#define KEY_TYPES    "tokenizer.ggml.token_type"
#define KEY_MERGES   "tokenizer.ggml.merges"
#define KEY_BOS      "tokenizer.ggml.bos_token_id"
#define KEY_EOS      "tokenizer.ggml.eos_token_id"
#define KEY_UNK      "tokenizer.ggml.unknown_token_id"
#define KEY_PAD      "tokenizer.ggml.padding_token_id"
#define KEY_ADD_BOS  "tokenizer.ggml.add_bos_token"
#define KEY_ADD_EOS  "tokenizer.ggml.add_eos_token"
#define KEY_TEMPLATE "tokenizer.chat_template"

/* ---------------------------------------------------------------- lifecycle */

gf_vocab *gf_vocab_alloc(int32_t n_tokens) {
    if (n_tokens < 0 || n_tokens > GF_VOCAB_MAX_TOKENS) return NULL;
    gf_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    size_t n = n_tokens ? (size_t)n_tokens : 1;
    v->tokens = calloc(n, sizeof *v->tokens);
    v->types = malloc(n * sizeof *v->types);
    if (!v->tokens || !v->types) {
        gf_vocab_free(v);
        return NULL;
    }
    v->n_tokens = n_tokens;
    for (int32_t i = 0; i < n_tokens; i++) v->types[i] = GF_TOKEN_NORMAL;
    v->bos_id = v->eos_id = v->unk_id = v->pad_id = -1;
    v->add_bos = v->add_eos = -1;
    return v;
}

void gf_vocab_free(gf_vocab *v) {
    if (!v) return;
    if (v->tokens)
        for (int32_t i = 0; i < v->n_tokens; i++) free(v->tokens[i].s);
    if (v->merges)
        for (int32_t i = 0; i < v->n_merges; i++) free(v->merges[i].s);
    free(v->tokens);
    free(v->scores);
    free(v->types);
    free(v->merges);
    free(v->chat_template);
    free(v);
}

const char *gf_vocab_model_name(gf_vocab_kind kind) {
    return kind == GF_VOCAB_BPE ? "gpt2" : "llama";
}

/* ---------------------------------------------------------------- writing */

static gf_status nomem(gf_err *err, const char *key) {
    return gf_errf(err, GF_E_NOMEM, "vocabulary: out of memory writing '%s'", key);
}

static gf_status set_strs(gf_gguf_writer *w, const char *key, const gf_str *s, int32_t n, gf_err *err) {
    const char **p = malloc((n ? (size_t)n : 1) * sizeof *p);
    if (!p) return nomem(err, key);
    for (int32_t i = 0; i < n; i++) p[i] = s[i].s ? s[i].s : "";
    gf_status st = gf_gguf_set_arr_str(w, key, p, (uint64_t)n);
    free(p);
    return st == GF_OK ? GF_OK : nomem(err, key);
}

gf_status gf_vocab_to_gguf(const gf_vocab *v, gf_gguf_writer *w, gf_err *err) {
    if (!v || !w || v->n_tokens <= 0 || !v->tokens || !v->types)
        return gf_errf(err, GF_E_USAGE, "gf_vocab_to_gguf: empty vocabulary");
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i].s && strlen(v->tokens[i].s) != v->tokens[i].len)
            return gf_errf(err, GF_E_VALUE, "vocabulary: token %d contains a NUL byte, which GGUF string "
                           "arrays written from C strings cannot carry", (int)i);
#define TRY(call, key) do { if ((call) != GF_OK) return nomem(err, key); } while (0)
    TRY(gf_gguf_set_str(w, KEY_MODEL, gf_vocab_model_name(v->kind)), KEY_MODEL);
    if (v->kind == GF_VOCAB_BPE && v->pre[0]) TRY(gf_gguf_set_str(w, KEY_PRE, v->pre), KEY_PRE);
    gf_status st = set_strs(w, KEY_TOKENS, v->tokens, v->n_tokens, err);
    if (st != GF_OK) return st;
    if (v->scores) TRY(gf_gguf_set_arr(w, KEY_SCORES, GF_GGUF_F32, v->scores, (uint64_t)v->n_tokens), KEY_SCORES);
    TRY(gf_gguf_set_arr(w, KEY_TYPES, GF_GGUF_I32, v->types, (uint64_t)v->n_tokens), KEY_TYPES);
    if (v->kind == GF_VOCAB_BPE && v->merges) {
        st = set_strs(w, KEY_MERGES, v->merges, v->n_merges, err);
        if (st != GF_OK) return st;
    }
    if (v->bos_id >= 0) TRY(gf_gguf_set_u32(w, KEY_BOS, (uint32_t)v->bos_id), KEY_BOS);
    if (v->eos_id >= 0) TRY(gf_gguf_set_u32(w, KEY_EOS, (uint32_t)v->eos_id), KEY_EOS);
    if (v->unk_id >= 0) TRY(gf_gguf_set_u32(w, KEY_UNK, (uint32_t)v->unk_id), KEY_UNK);
    if (v->pad_id >= 0) TRY(gf_gguf_set_u32(w, KEY_PAD, (uint32_t)v->pad_id), KEY_PAD);
    if (v->add_bos >= 0) TRY(gf_gguf_set_bool(w, KEY_ADD_BOS, v->add_bos), KEY_ADD_BOS);
    if (v->add_eos >= 0) TRY(gf_gguf_set_bool(w, KEY_ADD_EOS, v->add_eos), KEY_ADD_EOS);
    if (v->chat_template) TRY(gf_gguf_set_str(w, KEY_TEMPLATE, v->chat_template), KEY_TEMPLATE);
#undef TRY
    return GF_OK;
}

/* ---------------------------------------------------------------- reading */

static gf_status copy_str(const gf_str *src, gf_str *dst) {
    dst->s = malloc(src->len + 1);
    if (!dst->s) return GF_E_NOMEM;
    memcpy(dst->s, src->s, src->len);
    dst->s[src->len] = '\0';
    dst->len = src->len;
    return GF_OK;
}

/* Optional special token id: absent -> -1; present but not below n_tokens -> -1 too,
 * as llama.cpp ignores (with a warning) an id outside the vocabulary. */
static gf_status get_id(const gf_gguf *g, const char *key, int32_t n_tokens, int32_t *out, gf_err *err) {
    *out = -1;
    if (!gf_gguf_find(g, key)) return GF_OK;
    uint32_t id;
    gf_status st = gf_gguf_get_u32(g, key, &id, err);
    if (st != GF_OK) return st;
    if (id < (uint32_t)n_tokens) *out = (int32_t)id;
    return GF_OK;
}

static gf_status get_flag(const gf_gguf *g, const char *key, int *out, gf_err *err) {
    *out = -1;
    if (!gf_gguf_find(g, key)) return GF_OK;
    return gf_gguf_get_bool(g, key, out, err);
}

gf_status gf_vocab_from_gguf(const gf_gguf *g, gf_vocab **out, gf_err *err) {
    *out = NULL;
    gf_vocab *v = NULL;
    const char *path = g->path ? g->path : "gguf";
    const gf_str *model = NULL, *pre = NULL, *tmpl = NULL;
    const gf_kv *toks = NULL, *kv = NULL;
    gf_status st = gf_gguf_get_str(g, KEY_MODEL, &model, err);
    if (st != GF_OK) return st;
    gf_vocab_kind kind;
    if (strcmp(model->s, "llama") == 0) kind = GF_VOCAB_SPM;
    else if (strcmp(model->s, "gpt2") == 0) kind = GF_VOCAB_BPE;
    else
        return gf_errf(err, GF_E_UNSUPPORTED, "%s: key '%s': tokenizer model '%.64s' is not supported "
                       "(only 'llama' and 'gpt2')", path, KEY_MODEL, model->s);
    if ((st = gf_gguf_get_arr(g, KEY_TOKENS, GF_GGUF_STRING, &toks, err)) != GF_OK) return st;
    if (toks->n == 0 || toks->n > GF_VOCAB_MAX_TOKENS)
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s': %llu tokens (expected 1 to %d)", path, KEY_TOKENS,
                       (unsigned long long)toks->n, GF_VOCAB_MAX_TOKENS);
    int32_t n = (int32_t)toks->n;
    v = gf_vocab_alloc(n);
    if (!v) return gf_errf(err, GF_E_NOMEM, "%s: out of memory for %d tokens", path, (int)n);
    v->kind = kind;
    if (gf_gguf_find(g, KEY_PRE)) {
        if ((st = gf_gguf_get_str(g, KEY_PRE, &pre, err)) != GF_OK) goto fail;
        if (pre->len >= sizeof v->pre || strlen(pre->s) != pre->len) {
            st = gf_errf(err, GF_E_FORMAT, "%s: key '%s': value is longer than %zu bytes or holds a NUL",
                         path, KEY_PRE, sizeof v->pre - 1);
            goto fail;
        }
        memcpy(v->pre, pre->s, pre->len + 1);
    }
    const gf_str *ts = toks->arr;
    for (int32_t i = 0; i < n; i++) {
        if (ts[i].len > GF_VOCAB_MAX_TEXT) {
            st = gf_errf(err, GF_E_FORMAT, "%s: key '%s': token %d is %llu bytes long (at most %d)", path,
                         KEY_TOKENS, (int)i, (unsigned long long)ts[i].len, GF_VOCAB_MAX_TEXT);
            goto fail;
        }
        if (copy_str(&ts[i], &v->tokens[i]) != GF_OK) goto nomem;
    }
    if ((kv = gf_gguf_find(g, KEY_SCORES))) {
        if ((st = gf_gguf_get_arr(g, KEY_SCORES, GF_GGUF_F32, &kv, err)) != GF_OK) goto fail;
        if (kv->n != (uint64_t)n) {
            st = gf_errf(err, GF_E_FORMAT, "%s: key '%s' has %llu elements for %d tokens", path, KEY_SCORES,
                         (unsigned long long)kv->n, (int)n);
            goto fail;
        }
        if (!(v->scores = malloc((size_t)n * sizeof *v->scores))) goto nomem;
        memcpy(v->scores, kv->arr, (size_t)n * sizeof *v->scores);
    }
    if ((kv = gf_gguf_find(g, KEY_TYPES))) {
        if ((st = gf_gguf_get_arr(g, KEY_TYPES, GF_GGUF_I32, &kv, err)) != GF_OK) goto fail;
        if (kv->n != (uint64_t)n) {
            st = gf_errf(err, GF_E_FORMAT, "%s: key '%s' has %llu elements for %d tokens", path, KEY_TYPES,
                         (unsigned long long)kv->n, (int)n);
            goto fail;
        }
        memcpy(v->types, kv->arr, (size_t)n * sizeof *v->types);
    }
    if (kind == GF_VOCAB_BPE) {
        /* llama.cpp cannot load a gpt2 vocabulary without merges either. */
        if ((st = gf_gguf_get_arr(g, KEY_MERGES, GF_GGUF_STRING, &kv, err)) != GF_OK) goto fail;
        if (kv->n > GF_VOCAB_MAX_MERGES) {
            st = gf_errf(err, GF_E_FORMAT, "%s: key '%s': %llu merges (at most %d)", path, KEY_MERGES,
                         (unsigned long long)kv->n, GF_VOCAB_MAX_MERGES);
            goto fail;
        }
        v->n_merges = (int32_t)kv->n;
        if (!(v->merges = calloc(kv->n ? kv->n : 1, sizeof *v->merges))) goto nomem;
        const gf_str *ms = kv->arr;
        for (int32_t i = 0; i < v->n_merges; i++) {
            if (ms[i].len > 2 * (uint64_t)GF_VOCAB_MAX_TEXT + 1) {
                st = gf_errf(err, GF_E_FORMAT, "%s: key '%s': merge %d is %llu bytes long", path, KEY_MERGES,
                             (int)i, (unsigned long long)ms[i].len);
                goto fail;
            }
            if (copy_str(&ms[i], &v->merges[i]) != GF_OK) goto nomem;
        }
    }
    if ((st = get_id(g, KEY_BOS, n, &v->bos_id, err)) != GF_OK) goto fail;
    if ((st = get_id(g, KEY_EOS, n, &v->eos_id, err)) != GF_OK) goto fail;
    if ((st = get_id(g, KEY_UNK, n, &v->unk_id, err)) != GF_OK) goto fail;
    if ((st = get_id(g, KEY_PAD, n, &v->pad_id, err)) != GF_OK) goto fail;
    if ((st = get_flag(g, KEY_ADD_BOS, &v->add_bos, err)) != GF_OK) goto fail;
    if ((st = get_flag(g, KEY_ADD_EOS, &v->add_eos, err)) != GF_OK) goto fail;
    if (gf_gguf_find(g, KEY_TEMPLATE)) {
        if ((st = gf_gguf_get_str(g, KEY_TEMPLATE, &tmpl, err)) != GF_OK) goto fail;
        if (tmpl->len > GF_VOCAB_MAX_TEMPLATE) {
            st = gf_errf(err, GF_E_FORMAT, "%s: key '%s' is %llu bytes long (at most %u)", path, KEY_TEMPLATE,
                         (unsigned long long)tmpl->len, GF_VOCAB_MAX_TEMPLATE);
            goto fail;
        }
        gf_str t;
        if (copy_str(tmpl, &t) != GF_OK) goto nomem;
        v->chat_template = t.s;
    }
    *out = v;
    return GF_OK;
nomem:
    st = gf_errf(err, GF_E_NOMEM, "%s: out of memory reading the vocabulary", path);
fail:
    gf_vocab_free(v);
    return st;
}
