/*
 * test_model_types.c - the engine loads every type the GGUF reader reads.  A model
 * whose matrices are all of one type no kernel multiplies (BF16, Q4_1, Q5_0, Q5_1,
 * Q2_K .. Q6_K, IQ4_NL, IQ4_XS: widened to F32 at load) gives logits bit-identical
 * to its F32 twin, the same weights dequantized here and written as F32 (its F32
 * matrices rounding their activations as llama.cpp does for the original type, the
 * act_round of the type table, itself checked against formulas written out here; without
 * it the logits differ); so does a model mixing every readable type, as llama.cpp's Q4_K_M mixes Q4_K, Q6_K and F32
 * (its twin keeps the types a kernel multiplies); tied and untied output.  A NaN or
 * Inf fp16 scale is refused naming the tensor: in a matrix at load, in the token
 * embedding when its row is looked up.
 *
 * Tiny random models built in memory, every dimension a multiple of 256 for the
 * K-quants' super-blocks.  Block bytes are random; the test sets each block's fp16
 * scales (it knows where they are: the halves table below) so that weights stay of
 * order 1/sqrt(n_in).  The types come from the type table, never from a list here.
 */
#include "../engine/forward.h"
#include "../formats/gguf.h"
#include "../common/types.h"
#include "check.h"
#include "membuf.h"

#include <math.h>
#include <stddef.h>

#define DIM 256
#define N_FF 512
#define N_LAYERS 2
#define N_HEADS 4
#define N_KV_HEADS 2
#define N_VOCAB 40
#define T_TOK 17
#define MAX_TENSORS 64

/* Where each block type keeps its fp16 scales (the block structs of types.h). */
typedef struct {
    gf_type type;
    int n;
    size_t off[2];
} half_fields;

static const half_fields halves[] = {
    {GF_TYPE_Q4_0, 1, {offsetof(gf_block_q4_0, d)}},
    {GF_TYPE_Q8_0, 1, {offsetof(gf_block_q8_0, d)}},
    {GF_TYPE_Q4_1, 2, {offsetof(gf_block_q4_1, d), offsetof(gf_block_q4_1, m)}},
    {GF_TYPE_Q5_0, 1, {offsetof(gf_block_q5_0, d)}},
    {GF_TYPE_Q5_1, 2, {offsetof(gf_block_q5_1, d), offsetof(gf_block_q5_1, m)}},
    {GF_TYPE_Q2_K, 2, {offsetof(gf_block_q2_k, d), offsetof(gf_block_q2_k, dmin)}},
    {GF_TYPE_Q3_K, 1, {offsetof(gf_block_q3_k, d)}},
    {GF_TYPE_Q4_K, 2, {offsetof(gf_block_q4_k, d), offsetof(gf_block_q4_k, dmin)}},
    {GF_TYPE_Q5_K, 2, {offsetof(gf_block_q5_k, d), offsetof(gf_block_q5_k, dmin)}},
    {GF_TYPE_Q6_K, 1, {offsetof(gf_block_q6_k, d)}},
    {GF_TYPE_IQ4_NL, 1, {offsetof(gf_block_iq4_nl, d)}},
    {GF_TYPE_IQ4_XS, 1, {offsetof(gf_block_iq4_xs, d)}},
};

static const half_fields *halves_of(gf_type t) {
    for (size_t i = 0; i < sizeof halves / sizeof *halves; i++)
        if (halves[i].type == t) return &halves[i];
    return NULL;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_u64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double frand(void) { return (double)(next_u64() >> 11) / (double)(1ull << 53); } /* [0, 1) */

/* ---------------------------------------------------------------- tensors */

typedef struct {
    char name[64];
    gf_type type;
    int n_dims;
    int64_t ne0, ne1;
    void *data;
    size_t nbytes;
} tensor;

typedef struct {
    tensor t[MAX_TENSORS];
    int n;
} tensor_set;

/* A random (ne1, ne0) tensor of `type` with values of order `mag`: float types from
 * random floats, block types from random bytes with their fp16 scales set per block. */
static void make(tensor_set *ts, const char *name, gf_type type, int n_dims, int64_t ne0, int64_t ne1, double mag,
                 double offset) {
    tensor *t = &ts->t[ts->n++];
    const gf_type_traits *tt = gf_type_info(type);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->nbytes = gf_row_size(type, ne0) * (size_t)ne1;
    t->data = malloc(t->nbytes);
    const int64_t n = ne0 * ne1;
    if (!tt->is_quantized) {
        float *f = malloc((size_t)n * sizeof *f);
        for (int64_t i = 0; i < n; i++) f[i] = (float)(offset + mag * (2 * frand() - 1));
        if (tt->from_float_ref) gf_quantize_row(type, f, t->data, n);
        else /* BF16: the float's top half */
            for (int64_t i = 0; i < n; i++) {
                uint32_t u;
                memcpy(&u, &f[i], 4);
                ((uint16_t *)t->data)[i] = (uint16_t)(u >> 16);
            }
        free(f);
        return;
    }
    const half_fields *hf = halves_of(type);
    CHECK(hf != NULL, "no fp16 scale offsets for %s in this test's table", tt->name);
    uint8_t *b = t->data;
    for (size_t i = 0; i < t->nbytes; i++) b[i] = (uint8_t)next_u64();
    if (!hf) return;
    const int64_t nb = n / tt->block_size;
    /* unit scales first, to see how large the quants make the values */
    for (int64_t k = 0; k < nb; k++)
        for (int j = 0; j < hf->n; j++) {
            const uint16_t one = gf_fp32_to_fp16(1.0f);
            memcpy(b + (size_t)k * tt->type_size + hf->off[j], &one, 2);
        }
    float *f = malloc((size_t)n * sizeof *f);
    gf_dequantize_row(type, t->data, f, n);
    double amax = 0;
    for (int64_t i = 0; i < n; i++) amax = fmax(amax, fabs(f[i]));
    free(f);
    for (int64_t k = 0; k < nb; k++)
        for (int j = 0; j < hf->n; j++) {
            const double s = mag / amax * (0.5 + 0.5 * frand()) * (next_u64() & 1 ? 1 : -1);
            const uint16_t h = gf_fp32_to_fp16((float)s);
            memcpy(b + (size_t)k * tt->type_size + hf->off[j], &h, 2);
        }
}

/* The same tensor with its values written as F32 (dequantized by the type's to_float). */
static void make_f32_twin(tensor *dst, const tensor *src) {
    *dst = *src;
    dst->type = GF_TYPE_F32;
    dst->nbytes = (size_t)(src->ne0 * src->ne1) * sizeof(float);
    dst->data = malloc(dst->nbytes);
    CHECK(gf_dequantize_row(src->type, src->data, dst->data, src->ne0 * src->ne1) == 0, "%s: dequantize %s",
          src->name, gf_type_name(src->type));
}

static void free_set(tensor_set *ts) {
    for (int i = 0; i < ts->n; i++) free(ts->t[i].data);
    ts->n = 0;
}

/* ---------------------------------------------------------------- models */

typedef struct {
    const char *arch; /* "qwen2" (q/k/v biases) or "llama" */
    int tied;
} model_spec;

/* Every tensor of a model; matrix i (embedding 0, output 1 if untied, then the
 * blocks' in order) gets type_of(i). */
static void make_model(tensor_set *ts, const model_spec *sp, gf_type (*type_of)(int i)) {
    const int hd = DIM / N_HEADS, Dkv = N_KV_HEADS * hd;
    const int n_in[GF_LIN_COUNT] = {DIM, DIM, DIM, DIM, DIM, DIM, N_FF};
    const int n_out[GF_LIN_COUNT] = {DIM, Dkv, Dkv, DIM, N_FF, N_FF, DIM};
    int mi = 0;
    char name[64];
    ts->n = 0;
    make(ts, "token_embd.weight", type_of(mi++), 2, DIM, N_VOCAB, 1.0, 0.0);
    make(ts, "output_norm.weight", GF_TYPE_F32, 1, DIM, 1, 0.2, 1.0);
    if (!sp->tied) make(ts, "output.weight", type_of(mi++), 2, DIM, N_VOCAB, 1.0 / sqrt(DIM), 0.0);
    for (int il = 0; il < N_LAYERS; il++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", il);
        make(ts, name, GF_TYPE_F32, 1, DIM, 1, 0.2, 1.0);
        for (int l = 0; l < GF_LIN_COUNT; l++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, gf_linear_stem(l));
            make(ts, name, type_of(mi++), 2, n_in[l], n_out[l], 2.0 / sqrt(n_in[l]), 0.0);
            if (l <= GF_LIN_V && !strcmp(sp->arch, "qwen2")) {
                snprintf(name, sizeof name, "blk.%d.%s.bias", il, gf_linear_stem(l));
                make(ts, name, GF_TYPE_F32, 1, n_out[l], 1, 0.5, 0.0);
            }
        }
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", il);
        make(ts, name, GF_TYPE_F32, 1, DIM, 1, 0.2, 1.0);
    }
}

/* The twin: every 2-D tensor of a type no kernel multiplies as F32, the rest as is. */
static void make_twin(tensor_set *dst, const tensor_set *src) {
    dst->n = src->n;
    for (int i = 0; i < src->n; i++) {
        const tensor *t = &src->t[i];
        if (t->n_dims == 2 && !gf_type_can_matmul(t->type)) make_f32_twin(&dst->t[i], t);
        else {
            dst->t[i] = *t;
            dst->t[i].data = malloc(t->nbytes);
            memcpy(dst->t[i].data, t->data, t->nbytes);
        }
    }
}

static void write_gguf(const model_spec *sp, const tensor_set *ts, membuf *mb) {
    gf_err err = {0};
    gf_gguf_writer *w = gf_gguf_writer_new();
    char k[96];
    gf_gguf_set_str(w, "general.architecture", sp->arch);
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, sp->arch), k)
    gf_gguf_set_u32(w, KEY("context_length"), 64);
    gf_gguf_set_u32(w, KEY("embedding_length"), DIM);
    gf_gguf_set_u32(w, KEY("block_count"), N_LAYERS);
    gf_gguf_set_u32(w, KEY("feed_forward_length"), N_FF);
    gf_gguf_set_u32(w, KEY("attention.head_count"), N_HEADS);
    gf_gguf_set_u32(w, KEY("attention.head_count_kv"), N_KV_HEADS);
    gf_gguf_set_f32(w, KEY("rope.freq_base"), 1e6f);
    gf_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f);
#undef KEY
    for (int i = 0; i < ts->n; i++) {
        const tensor *t = &ts->t[i];
        int64_t ne[2] = {t->ne0, t->ne1};
        CHECK(gf_gguf_add_tensor(w, t->name, t->type, (uint32_t)t->n_dims, ne, &err) == GF_OK, "%s", err.msg);
    }
    gf_sink sink = {mem_write, mb};
    CHECK(gf_gguf_write_header(w, &sink, &err) == GF_OK, "%s", err.msg);
    for (int i = 0; i < ts->n; i++)
        CHECK(gf_gguf_write_tensor_data(w, &sink, (uint64_t)i, ts->t[i].data, ts->t[i].nbytes, &err) == GF_OK, "%s",
              err.msg);
    gf_gguf_writer_free(w);
}

typedef struct {
    membuf mb;
    gf_gguf *g;
    gf_model *m;
} loaded;

static gf_status load(loaded *L, const model_spec *sp, const tensor_set *ts, const char *name, gf_err *err) {
    memset(L, 0, sizeof *L);
    write_gguf(sp, ts, &L->mb);
    gf_status st = gf_gguf_parse(L->mb.p, L->mb.n, name, &L->g, err);
    if (st == GF_OK) st = gf_model_from_gguf(L->g, gf_kernels_detect(), &L->m, err);
    return st;
}

static void unload(loaded *L) {
    gf_model_free(L->m);
    gf_gguf_close(L->g);
    free(L->mb.p);
}

static const int32_t tokens[T_TOK] = {3, 17, 0, 39, 5, 5, 22, 11, 30, 1, 8, 36, 14, 2, 27, 9, 19};

/* Logits (T_TOK, N_VOCAB) of every position, or NULL with err set. */
static float *logits(const gf_model *m, const int32_t *tok, gf_err *err) {
    gf_state s;
    float *lg = malloc(sizeof(float) * T_TOK * N_VOCAB);
    if (gf_state_init(&s, m, T_TOK, 8, GF_TYPE_F16, err)) { free(lg); return NULL; }
    if (gf_forward(m, &s, tok, T_TOK, 0, 0, lg, NULL, err)) { free(lg); lg = NULL; }
    gf_state_free(&s);
    return lg;
}

/* ---------------------------------------------------------------- the checks */

static gf_type one_type;
static gf_type type_one(int i) { return one_type; }

static gf_type readable[GF_TYPE_COUNT_];
static int n_readable;
/* matrix i of the mixed model: every readable type in turn */
static gf_type type_mixed(int i) { return readable[i % n_readable]; }

static gf_type file_type(const tensor_set *ts, const char *name) {
    for (int i = 0; i < ts->n; i++)
        if (!strcmp(ts->t[i].name, name)) return ts->t[i].type;
    CHECK(0, "no tensor %s", name);
    return GF_TYPE_F32;
}

/* The twin's F32 matrices round their activations as the widened ones do. */
static void copy_act_round(gf_model *twin, const gf_model *m) {
    for (int il = 0; il < N_LAYERS; il++)
        for (int l = 0; l < GF_LIN_COUNT; l++) twin->layers[il].lin[l].act_round = m->layers[il].lin[l].act_round;
    twin->output.act_round = m->output.act_round;
}

/* A model of the given types against its twin: loads, widens exactly the matrices
 * no kernel multiplies, and gives the twin's logits bit for bit. */
static void check_twin(const model_spec *sp, gf_type (*type_of)(int), const char *what) {
    tensor_set q = {0}, f = {0};
    loaded Lq, Lf;
    gf_err err = {0};
    make_model(&q, sp, type_of);
    make_twin(&f, &q);
    int64_t want_wide = 0;
    for (int i = 0; i < q.n; i++)
        want_wide += q.t[i].n_dims == 2 && !gf_type_can_matmul(q.t[i].type) &&
                     (strcmp(q.t[i].name, "token_embd.weight") || sp->tied);
    gf_status sq = load(&Lq, sp, &q, "model.gguf", &err);
    CHECK(sq == GF_OK, "%s: %s", what, err.msg);
    gf_status sf = load(&Lf, sp, &f, "twin.gguf", &err);
    CHECK(sf == GF_OK, "%s twin: %s", what, err.msg);
    if (sq == GF_OK && sf == GF_OK) {
        CHECK(Lq.m->n_widened == want_wide && Lf.m->n_widened == 0, "%s: %lld matrices widened, expected %lld", what,
              (long long)Lq.m->n_widened, (long long)want_wide);
        /* a matrix keeps its file type exactly when a kernel multiplies it */
        int kept = 1;
        for (int il = 0; il < N_LAYERS; il++)
            for (int l = 0; l < GF_LIN_COUNT; l++) {
                const gf_wmat *wq = &Lq.m->layers[il].lin[l], *wf = &Lf.m->layers[il].lin[l];
                kept &= wq->type == wf->type;
            }
        CHECK(kept, "%s: matrix types differ from the twin's", what);
        int rounds = 1; /* a widened matrix rounds its activations as its file type asks, no other does */
        for (int il = 0; il < N_LAYERS; il++)
            for (int l = 0; l < GF_LIN_COUNT; l++) {
                const gf_type ft = file_type(&q, Lq.m->layers[il].name[l]);
                rounds &= Lq.m->layers[il].lin[l].act_round ==
                          (gf_type_can_matmul(ft) ? NULL : gf_type_info(ft)->act_round);
            }
        CHECK(rounds, "%s: activation rounding not the file types'", what);
        /* without llama.cpp's activation rounding, the twin computes other logits (when a widened
         * type has one); with it, the same bits */
        int64_t n_plain = -1;
        float *a = logits(Lq.m, tokens, &err), *b = a ? logits(Lf.m, tokens, &err) : NULL;
        if (a && b && want_wide) {
            n_plain = 0;
            for (int i = 0; i < T_TOK * N_VOCAB; i++) n_plain += a[i] != b[i];
        }
        free(b);
        copy_act_round(Lf.m, Lq.m);
        b = a ? logits(Lf.m, tokens, &err) : NULL;
        CHECK(a && b, "%s: forward: %s", what, err.msg);
        if (n_plain >= 0) CHECK(n_plain > 0, "%s: the activation rounding changes no logit", what);
        if (a && b) {
            int64_t n_diff = 0, finite = 1;
            double md = 0;
            for (int i = 0; i < T_TOK * N_VOCAB; i++) {
                n_diff += memcmp(&a[i], &b[i], sizeof *a) != 0;
                md = fmax(md, fabs((double)a[i] - b[i]));
                finite &= isfinite(a[i]);
            }
            CHECK(finite && n_diff == 0, "%s: %lld of %d logits differ from the F32 twin's (max %g)", what,
                  (long long)n_diff, T_TOK * N_VOCAB, md);
            printf("  %-34s %2lld matrices widened, %5.1f KiB -> %6.1f KiB f32, logits %s (%lld differ unrounded)\n",
                   what, (long long)Lq.m->n_widened, Lq.m->widened_src_bytes / 1024.0, Lq.m->widened_bytes / 1024.0,
                   n_diff ? "DIFFER" : "bit-identical to the twin's", (long long)n_plain);
        }
        free(a);
        free(b);
    }
    unload(&Lq);
    unload(&Lf);
    free_set(&q);
    free_set(&f);
}

/* Sets fp16 scale j of block k of tensor `name` to h. */
static void poke_scale(tensor_set *ts, const char *name, int64_t k, int j, uint16_t h) {
    for (int i = 0; i < ts->n; i++) {
        tensor *t = &ts->t[i];
        if (strcmp(t->name, name)) continue;
        const gf_type_traits *tt = gf_type_info(t->type);
        memcpy((uint8_t *)t->data + (size_t)k * tt->type_size + halves_of(t->type)->off[j], &h, 2);
        return;
    }
    CHECK(0, "no tensor %s", name);
}

/* A NaN or Inf scale in a widened matrix: refused at load, naming the tensor, the
 * value and the block; in the (untied) embedding: refused when that row is read. */
static void check_bad_scales(gf_type type) {
    const char *tn = gf_type_name(type);
    model_spec sp = {.arch = "llama", .tied = 0};
    tensor_set q = {0};
    loaded L;
    gf_err err = {0};
    char what[64];
    one_type = type;
    const int64_t per_row = DIM / gf_type_info(type)->block_size, k = 3 * per_row + per_row - 1;
    const uint16_t bad[2] = {0x7e00 /* NaN */, 0xfc00 /* -Inf */};
    for (int b = 0; b < 2; b++) {
        char blk[16];
        snprintf(blk, sizeof blk, "block %lld", (long long)k);
        make_model(&q, &sp, type_one);
        poke_scale(&q, "blk.1.ffn_up.weight", k, 0, bad[b]);
        snprintf(what, sizeof what, "%s %s scale in blk.1.ffn_up", tn, b ? "Inf" : "NaN");
        gf_status st = load(&L, &sp, &q, "bad.gguf", &err);
        CHECK(st == GF_E_FORMAT && strstr(err.msg, "bad.gguf") && strstr(err.msg, "'blk.1.ffn_up.weight'") &&
                  strstr(err.msg, b ? "Inf" : "NaN") && strstr(err.msg, blk),
              "%s: %s, '%s'", what, gf_status_name(st), err.msg);
        if (st) printf("  refused %-30s %s\n", what, err.msg);
        unload(&L);
        free_set(&q);
    }
    /* the embedding: row 5's last block */
    make_model(&q, &sp, type_one);
    poke_scale(&q, "token_embd.weight", 6 * per_row - 1, 0, bad[0]);
    snprintf(what, sizeof what, "%s NaN scale in token_embd", tn);
    CHECK(load(&L, &sp, &q, "bad.gguf", &err) == GF_OK, "%s: loads (rows are read on lookup): %s", what, err.msg);
    if (L.m) {
        int32_t fine[T_TOK];
        for (int i = 0; i < T_TOK; i++) fine[i] = tokens[i] == 5 ? 6 : tokens[i];
        float *lg = logits(L.m, fine, &err);
        CHECK(lg != NULL, "%s: tokens without row 5: %s", what, err.msg);
        free(lg);
        lg = logits(L.m, tokens, &err);
        CHECK(!lg && strstr(err.msg, "bad.gguf") && strstr(err.msg, "'token_embd.weight'") &&
                  strstr(err.msg, "token 5") && strstr(err.msg, "NaN"),
              "%s: '%s'", what, err.msg);
        if (!lg) printf("  refused %-30s %s\n", what, err.msg);
        free(lg);
    }
    unload(&L);
    free_set(&q);
}

/* ---------------------------------------------------------------- activation rounding */

/* Each read-only type's act_round against the rounding written out here from ggml's
 * definitions: Q8_K (per 256: iscale = -127/max, max the first element of largest
 * magnitude; q = nearest-even, at most 127; d = 1/iscale), Q8_0 (per 32: d = fp16(amax/127),
 * q = round-half-away(x/d) with 1/d in float), BF16 (nearest even). */
static void ref_q8_k(const float *x, float *y, int n) {
    for (int b = 0; b < n; b += 256) {
        int at = b;
        for (int j = b; j < b + 256; j++)
            if (fabsf(x[j]) > fabsf(x[at])) at = j;
        const float iscale = x[at] != 0 ? -127.0f / x[at] : 0.0f;
        for (int j = b; j < b + 256; j++) {
            const float v = nearbyintf(iscale * x[j]);
            y[j] = iscale != 0 ? 1.0f / iscale * fminf(v, 127.0f) : 0.0f;
        }
    }
}
static void ref_q8_0(const float *x, float *y, int n) {
    for (int b = 0; b < n; b += 32) {
        float amax = 0;
        for (int j = b; j < b + 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f, dh = gf_fp16_to_fp32(gf_fp32_to_fp16(d));
        for (int j = b; j < b + 32; j++) y[j] = roundf(x[j] * id) * dh;
    }
}
static void ref_bf16(const float *x, float *y, int n) {
    for (int j = 0; j < n; j++) {
        const double a = x[j];
        uint32_t u;
        memcpy(&u, &x[j], 4);
        uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
        float fl, fh;
        memcpy(&fl, &lo, 4);
        memcpy(&fh, &hi, 4);
        const double dl = fabs(a - fl), dh = fabs(a - fh);
        y[j] = dl < dh ? fl : dh < dl ? fh : (lo & 0x10000u) ? fh : fl;
    }
}

static void test_act_round(void) {
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *got = malloc(N * sizeof *x), *want = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = (float)(4 * frand() - 2) * (i % 512 < 256 ? 1.0f : 1e-3f);
    for (int i = 0; i < 256; i++) x[i] = (float)((int)(x[i] * 8)) / 8; /* ties for Q8_0 and BF16 */
    for (int i = 256 * 3; i < 256 * 4; i++) x[i] = 0.0f;                 /* an all-zero block */
    x[1000] = -x[1001] * 1.0f;                                             /* equal magnitudes */
    int n_checked = 0;
    for (int t = 0; t < GF_TYPE_COUNT_; t++) {
        const gf_type_traits *tt = gf_type_info((uint32_t)t);
        if (!tt || !tt->act_round) continue;
        void (*ref)(const float *, float *, int) = tt->block_size == 256 ? ref_q8_k : tt->block_size == 32 ? ref_q8_0
                                                                                                       : ref_bf16;
        memcpy(got, x, N * sizeof *x);
        tt->act_round(got, N);
        ref(x, want, N);
        int n_diff = 0;
        for (int i = 0; i < N; i++) n_diff += got[i] != want[i]; /* the references make -0 where 0 * d is +0 */
        CHECK(n_diff == 0, "%s: act_round differs from the reference at %d of %d", tt->name, n_diff, N);
        n_checked++;
    }
    CHECK(n_checked == 11, "%d types round activations, expected the 11 without a kernel", n_checked);
    printf("  act_round of %d types: equal to the references written here (%d activations each)\n", n_checked, N);
    free(x);
    free(got);
    free(want);
}

int main(void) {
    char what[64];
    for (int t = 0; t < GF_TYPE_COUNT_; t++)
        if (gf_type_can_read((gf_type)t)) readable[n_readable++] = (gf_type)t;
    printf("llama.cpp's activation rounding of the widened types:\n");
    test_act_round();
    printf("each type no kernel multiplies, against its F32 twin (%s kernels):\n",
           gf_kernels_name(gf_kernels_detect()));
    const model_spec qwen2_tied = {.arch = "qwen2", .tied = 1}, llama = {.arch = "llama", .tied = 0};
    int n_ro = 0;
    for (int i = 0; i < n_readable; i++) {
        if (gf_type_can_matmul(readable[i])) continue;
        one_type = readable[i];
        n_ro++;
        snprintf(what, sizeof what, "qwen2 tied, all %s", gf_type_name(one_type));
        check_twin(&qwen2_tied, type_one, what);
    }
    CHECK(n_ro == 11, "%d types no kernel multiplies (bf16, q4_1, q5_0, q5_1, q2_K..q6_K, iq4_nl, iq4_xs)", n_ro);
    printf("every readable type in one model:\n");
    check_twin(&llama, type_mixed, "llama untied, mixed");
    check_twin(&qwen2_tied, type_mixed, "qwen2 tied, mixed");
    rng = 0x9e3779b97f4a7c15ull; /* another start: embedding and output of other types */
    readable[n_readable] = readable[0];
    for (int i = 0; i < n_readable; i++) readable[i] = readable[i + 1];
    check_twin(&llama, type_mixed, "llama untied, mixed (shifted)");
    printf("NaN and Inf fp16 scales:\n");
    check_bad_scales(GF_TYPE_Q4_K);
    check_bad_scales(GF_TYPE_Q6_K);
    return check_done("test_model_types");
}
