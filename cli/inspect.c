/*
 * inspect.c - `gguf-forge inspect PATH [--json]`: metadata and a tensor table
 * (name, shape, type, bytes) of a GGUF file, or of a Hugging Face model folder
 * (config.json as GGUF would see it, and its safetensors).
 * Long arrays (tokens, merges) are shown by length and their first elements.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../formats/gguf.h"
#include "../formats/hfconfig.h"
#include "../formats/safetensors.h"
#include "cli.h"

#define ARRAY_HEAD 8

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge inspect PATH [--json]\n\n"
               "PATH is a .gguf file or a Hugging Face model folder. Prints the metadata and a table of tensors\n"
               "(name, shape, type, bytes); --json prints the same as one JSON object.\n");
}

/* ---------------------------------------------------------------- values */

static cJSON *scalar_json(uint32_t type, const void *p) {
    switch (type) {
    case GF_GGUF_U8: return cJSON_CreateNumber(*(const uint8_t *)p);
    case GF_GGUF_I8: return cJSON_CreateNumber(*(const int8_t *)p);
    case GF_GGUF_U16: return cJSON_CreateNumber(*(const uint16_t *)p);
    case GF_GGUF_I16: return cJSON_CreateNumber(*(const int16_t *)p);
    case GF_GGUF_U32: return cJSON_CreateNumber(*(const uint32_t *)p);
    case GF_GGUF_I32: return cJSON_CreateNumber(*(const int32_t *)p);
    case GF_GGUF_F32: return cJSON_CreateNumber(*(const float *)p);
    case GF_GGUF_BOOL: return cJSON_CreateBool(*(const uint8_t *)p);
    case GF_GGUF_U64: return cJSON_CreateNumber((double)*(const uint64_t *)p);
    case GF_GGUF_I64: return cJSON_CreateNumber((double)*(const int64_t *)p);
    case GF_GGUF_F64: return cJSON_CreateNumber(*(const double *)p);
    case GF_GGUF_STRING: return cJSON_CreateString(((const gf_str *)p)->s);
    default: return cJSON_CreateNull();
    }
}

static const void *elem(const gf_kv *kv, uint64_t i) {
    if (kv->arr_type == GF_GGUF_STRING) return (const gf_str *)kv->arr + i;
    return (const uint8_t *)kv->arr + i * gf_gguf_vtype_size(kv->arr_type);
}

/* Value as JSON; arrays longer than `head` keep their length and first elements. */
static cJSON *kv_json(const gf_kv *kv, uint64_t head) {
    if (kv->type == GF_GGUF_STRING) return cJSON_CreateString(kv->str.s);
    if (kv->type != GF_GGUF_ARRAY) return scalar_json(kv->type, &kv->v);
    cJSON *a = cJSON_CreateArray();
    for (uint64_t i = 0; i < kv->n && i < head; i++) cJSON_AddItemToArray(a, scalar_json(kv->arr_type, elem(kv, i)));
    if (kv->n <= head) return a;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", gf_gguf_vtype_name(kv->arr_type));
    cJSON_AddNumberToObject(o, "length", (double)kv->n);
    cJSON_AddItemToObject(o, "first", a);
    return o;
}

static void print_text_value(const gf_kv *kv) {
    cJSON *j = kv_json(kv, ARRAY_HEAD);
    if (kv->type == GF_GGUF_ARRAY && kv->n > ARRAY_HEAD) {
        char *first = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "first"));
        printf("[%llu x %s] %s ...", (unsigned long long)kv->n, gf_gguf_vtype_name(kv->arr_type), first ? first : "");
        free(first);
    } else if (kv->type == GF_GGUF_STRING) {
        /* one line: long strings (chat templates) are cut and newlines escaped */
        for (uint64_t i = 0; i < kv->str.len && i < 120; i++) {
            char c = kv->str.s[i];
            if (c == '\n') fputs("\\n", stdout);
            else putchar(c);
        }
        if (kv->str.len > 120) printf("... (%llu bytes)", (unsigned long long)kv->str.len);
    } else {
        char *s = cJSON_PrintUnformatted(j);
        fputs(s ? s : "", stdout);
        free(s);
    }
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------- GGUF */

static void shape_str(char *buf, size_t n, uint32_t n_dims, const int64_t *ne) {
    size_t at = 0;
    at += (size_t)snprintf(buf, n, "[");
    for (uint32_t d = 0; d < n_dims && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", d ? ", " : "", (long long)ne[d]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

static int inspect_gguf(const char *path, int json) {
    gf_err err = {0};
    gf_gguf *g = NULL;
    gf_status st = gf_gguf_open(path, &g, &err);
    if (st) {
        fprintf(stderr, "gguf-forge inspect: %s\n", err.msg);
        return gf_exit_code(st);
    }
    uint64_t params = 0, bytes = 0, qparams = 0, qbytes = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gf_gguf_tensor *t = &g->tensors[i];
        uint64_t nel = (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        params += nel;
        bytes += t->nbytes;
        if (t->n_dims >= 2) {
            qparams += nel;
            qbytes += t->nbytes;
        }
    }
    if (json) {
        cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *tens = cJSON_CreateArray();
        cJSON_AddStringToObject(root, "path", path);
        cJSON_AddNumberToObject(root, "version", g->version);
        cJSON_AddNumberToObject(root, "alignment", (double)g->alignment);
        cJSON_AddNumberToObject(root, "data_offset", (double)g->data_offset);
        cJSON_AddNumberToObject(root, "file_bytes", (double)g->map_size);
        cJSON_AddNumberToObject(root, "parameters", (double)params);
        for (uint64_t i = 0; i < g->n_kv; i++) cJSON_AddItemToObject(meta, g->kv[i].key.s, kv_json(&g->kv[i], ARRAY_HEAD));
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const gf_gguf_tensor *t = &g->tensors[i];
            cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateArray();
            cJSON_AddStringToObject(o, "name", t->name.s);
            for (uint32_t d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->ne[d]));
            cJSON_AddItemToObject(o, "shape", sh);
            cJSON_AddStringToObject(o, "type", gf_type_info(t->type)->name);
            cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
            cJSON_AddNumberToObject(o, "offset", (double)t->offset);
            cJSON_AddItemToArray(tens, o);
        }
        cJSON_AddItemToObject(root, "metadata", meta);
        cJSON_AddItemToObject(root, "tensors", tens);
        char *s = cJSON_Print(root);
        puts(s ? s : "{}");
        free(s);
        cJSON_Delete(root);
    } else {
        printf("%s: GGUF v%u, %llu keys, %llu tensors, alignment %llu, %.2f MB\n\n", path, g->version,
               (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors, (unsigned long long)g->alignment,
               (double)g->map_size / 1e6);
        for (uint64_t i = 0; i < g->n_kv; i++) {
            printf("  %-42s = ", g->kv[i].key.s);
            print_text_value(&g->kv[i]);
            putchar('\n');
        }
        printf("\n  %-5s %-32s %-18s %-6s %12s\n", "#", "tensor", "shape", "type", "bytes");
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const gf_gguf_tensor *t = &g->tensors[i];
            char sh[96];
            shape_str(sh, sizeof sh, t->n_dims, t->ne);
            printf("  %-5llu %-32s %-18s %-6s %12llu\n", (unsigned long long)i, t->name.s, sh, gf_type_info(t->type)->name,
                   (unsigned long long)t->nbytes);
        }
        printf("\n  %.3f M parameters, %.2f MB of tensor data", (double)params / 1e6, (double)bytes / 1e6);
        if (qparams) printf(", %.3f bits per weight in the 2-D tensors", 8.0 * (double)qbytes / (double)qparams);
        printf("\n");
    }
    gf_gguf_close(g);
    return GF_EXIT_OK;
}

/* ---------------------------------------------------------------- model folder */

static int inspect_folder(const char *dir, int json) {
    gf_err err = {0};
    gf_hfcfg hp;
    gf_safetensors *st = NULL;
    gf_status s = gf_hfcfg_load(dir, &hp, &err);
    if (!s) s = gf_st_open(dir, &st, &err);
    if (s) {
        fprintf(stderr, "gguf-forge inspect: %s\n", err.msg);
        return gf_exit_code(s);
    }
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *tens = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "path", dir);
    cJSON_AddStringToObject(cfg, "hf_architecture", hp.hf_arch);
    cJSON_AddStringToObject(cfg, "architecture", hp.arch_name);
    cJSON_AddNumberToObject(cfg, "vocab_size", (double)hp.n_vocab);
    cJSON_AddNumberToObject(cfg, "embedding_length", (double)hp.n_embd);
    cJSON_AddNumberToObject(cfg, "block_count", (double)hp.n_layer);
    cJSON_AddNumberToObject(cfg, "feed_forward_length", (double)hp.n_ff);
    cJSON_AddNumberToObject(cfg, "head_count", (double)hp.n_head);
    cJSON_AddNumberToObject(cfg, "head_count_kv", (double)hp.n_head_kv);
    cJSON_AddNumberToObject(cfg, "context_length", (double)hp.n_ctx_train);
    cJSON_AddNumberToObject(cfg, "rope_freq_base", hp.rope_theta);
    cJSON_AddNumberToObject(cfg, "rms_norm_eps", hp.rms_eps);
    cJSON_AddBoolToObject(cfg, "tied_embeddings", hp.tie_word_embeddings);
    uint64_t params = 0, bytes = 0;
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const gf_st_tensor *t = &st->tensors[i];
        gf_tensor_map m;
        gf_err e2 = {0};
        int mapped = gf_map_tensor(&hp, t->name, &m, &e2) == GF_OK;
        cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "gguf_name", mapped ? m.name : "");
        for (uint32_t d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToObject(o, "shape", sh);
        cJSON_AddStringToObject(o, "dtype", gf_type_info(t->dtype)->name);
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        cJSON_AddItemToArray(tens, o);
        params += (uint64_t)t->row_len * (uint64_t)t->n_rows;
        bytes += t->nbytes;
    }
    cJSON_AddItemToObject(root, "config", cfg);
    cJSON_AddNumberToObject(root, "parameters", (double)params);
    cJSON_AddItemToObject(root, "tensors", tens);
    if (json) {
        char *s2 = cJSON_Print(root);
        puts(s2 ? s2 : "{}");
        free(s2);
    } else {
        printf("%s: %s (GGUF arch %s), %lld safetensors file%s\n\n", dir, hp.hf_arch, hp.arch_name, (long long)st->n_files,
               st->n_files > 1 ? "s" : "");
        for (cJSON *c = cfg->child; c; c = c->next) {
            char *v = cJSON_PrintUnformatted(c);
            printf("  %-20s = %s\n", c->string, v ? v : "");
            free(v);
        }
        printf("\n  %-48s %-28s %-14s %-5s %12s\n", "tensor", "GGUF name", "shape", "dtype", "bytes");
        for (cJSON *t = tens->child; t; t = t->next) {
            char sh[96] = "[";
            for (cJSON *d = cJSON_GetObjectItem(t, "shape")->child; d; d = d->next)
                snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%.0f", d->prev && d != cJSON_GetObjectItem(t, "shape")->child ? ", " : "", d->valuedouble);
            snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "]");
            printf("  %-48s %-28s %-14s %-5s %12.0f\n", cJSON_GetObjectItem(t, "name")->valuestring,
                   cJSON_GetObjectItem(t, "gguf_name")->valuestring, sh, cJSON_GetObjectItem(t, "dtype")->valuestring,
                   cJSON_GetObjectItem(t, "bytes")->valuedouble);
        }
        printf("\n  %.3f M parameters, %.2f MB\n", (double)params / 1e6, (double)bytes / 1e6);
    }
    cJSON_Delete(root);
    gf_st_close(st);
    return GF_EXIT_OK;
}

int gf_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return GF_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "gguf-forge inspect: unexpected argument '%s'\n", argv[i]);
            help(stderr);
            return GF_EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        help(stderr);
        return GF_EXIT_USAGE;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return inspect_folder(path, json);
    return inspect_gguf(path, json);
}
