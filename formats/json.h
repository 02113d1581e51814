/*
 * json.h - small helpers over cJSON for reading untrusted JSON files: a size cap
 * on the file, exact integers (cJSON keeps numbers as doubles: anything that is
 * not an integer, or is above 2^53, is rejected rather than rounded), and
 * messages that name the file and the key.
 */
#ifndef GF_JSON_H
#define GF_JSON_H

#include <cjson/cJSON.h>

#include "../common/gf.h"

#define GF_JSON_MAX_BYTES ((size_t)256 << 20)

/* Parses text (len bytes, need not be NUL-terminated) into a cJSON tree. */
gf_status gf_json_parse(const char *text, size_t len, const char *name, cJSON **out, gf_err *err);
/* The same, and the top level must be an object ("name: top level is not a JSON object"). */
gf_status gf_json_parse_object(const char *text, size_t len, const char *name, cJSON **out, gf_err *err);
/* Reads and parses a file of at most max_bytes. */
gf_status gf_json_load(const char *path, size_t max_bytes, cJSON **out, gf_err *err);

/* obj[key] when obj is an object, else NULL: lookups chain, gf_json_get(gf_json_get(o, "a"), "b"). */
const cJSON *gf_json_get(const cJSON *obj, const char *key);
/* Missing (NULL) or JSON null. */
static inline int gf_json_absent(const cJSON *item) { return !item || cJSON_IsNull(item); }
/* 0 and *out when item is a number holding an exact integer in [lo, hi]; -1 otherwise (no message,
 * for callers that word their own).  lo and hi within +-2^53. */
int gf_json_as_int(const cJSON *item, int64_t lo, int64_t hi, int64_t *out);
/* item must be a number holding an exact integer in [lo, hi]. `what` names it in messages. */
gf_status gf_json_int(const cJSON *item, int64_t lo, int64_t hi, const char *name, const char *what,
                      int64_t *out, gf_err *err);
/* obj[key] as an integer; missing -> GF_E_FORMAT unless dflt_ok (then *out = dflt). */
gf_status gf_json_get_int(const cJSON *obj, const char *key, int64_t lo, int64_t hi, const char *name,
                          int64_t *out, gf_err *err);
gf_status gf_json_get_int_or(const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t dflt,
                             const char *name, int64_t *out, gf_err *err);
/* obj[key] as a finite number; missing -> dflt when has_dflt, else an error. */
gf_status gf_json_get_num_or(const cJSON *obj, const char *key, int has_dflt, double dflt, const char *name,
                             double *out, gf_err *err);
/* obj[key] as a bool; missing or null -> dflt. */
gf_status gf_json_get_bool_or(const cJSON *obj, const char *key, int dflt, const char *name, int *out, gf_err *err);

#endif /* GF_JSON_H */
