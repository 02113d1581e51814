/*
 * json.c - cJSON helpers with exact integers and messages naming file and key.
 * cJSON itself is the parser (Debian libcjson-dev); this file only adds checks.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

gf_status gf_json_parse(const char *text, size_t len, const char *name, cJSON **out, gf_err *err) {
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!*out) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        return gf_errf(err, GF_E_FORMAT, "%s: invalid JSON near byte %zu", name, at);
    }
    return GF_OK;
}

gf_status gf_json_parse_object(const char *text, size_t len, const char *name, cJSON **out, gf_err *err) {
    GF_TRY(gf_json_parse(text, len, name, out, err));
    if (cJSON_IsObject(*out)) return GF_OK;
    cJSON_Delete(*out);
    *out = NULL;
    return gf_errf(err, GF_E_FORMAT, "%s: top level is not a JSON object", name);
}

gf_status gf_json_load(const char *path, size_t max_bytes, cJSON **out, gf_err *err) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    gf_status st = gf_read_file(path, max_bytes, &text, &len, err);
    if (st) return st;
    st = gf_json_parse(text, len, path, out, err);
    free(text);
    return st;
}

const cJSON *gf_json_get(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

int gf_json_as_int(const cJSON *item, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!(v == floor(v)) || !(v >= (double)lo && v <= (double)hi)) return -1;
    *out = (int64_t)v;
    return 0;
}

gf_status gf_json_int(const cJSON *item, int64_t lo, int64_t hi, const char *name, const char *what,
                      int64_t *out, gf_err *err) {
    if (!cJSON_IsNumber(item))
        return gf_errf(err, GF_E_FORMAT, "%s: %s must be an integer", name, what);
    double v = item->valuedouble;
    if (!(v == floor(v)) || fabs(v) > 9007199254740992.0)
        return gf_errf(err, GF_E_FORMAT, "%s: %s must be an integer (got %g)", name, what, v);
    if (v < (double)lo || v > (double)hi)
        return gf_errf(err, GF_E_FORMAT, "%s: %s = %.0f is out of range [%lld, %lld]", name, what, v,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return GF_OK;
}

gf_status gf_json_get_int(const cJSON *obj, const char *key, int64_t lo, int64_t hi, const char *name,
                          int64_t *out, gf_err *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    char what[160];
    snprintf(what, sizeof what, "key '%s'", key);
    if (!it || cJSON_IsNull(it)) return gf_errf(err, GF_E_FORMAT, "%s: key '%s' is missing", name, key);
    return gf_json_int(it, lo, hi, name, what, out, err);
}

gf_status gf_json_get_int_or(const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t dflt,
                             const char *name, int64_t *out, gf_err *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) {
        *out = dflt;
        return GF_OK;
    }
    return gf_json_get_int(obj, key, lo, hi, name, out, err);
}

gf_status gf_json_get_num_or(const cJSON *obj, const char *key, int has_dflt, double dflt, const char *name,
                             double *out, gf_err *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) {
        if (!has_dflt) return gf_errf(err, GF_E_FORMAT, "%s: key '%s' is missing", name, key);
        *out = dflt;
        return GF_OK;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return gf_errf(err, GF_E_FORMAT, "%s: key '%s' must be a finite number", name, key);
    *out = it->valuedouble;
    return GF_OK;
}

gf_status gf_json_get_bool_or(const cJSON *obj, const char *key, int dflt, const char *name, int *out, gf_err *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) {
        *out = dflt;
        return GF_OK;
    }
    if (!cJSON_IsBool(it)) return gf_errf(err, GF_E_FORMAT, "%s: key '%s' must be true or false", name, key);
    *out = cJSON_IsTrue(it);
    return GF_OK;
}
