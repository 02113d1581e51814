/*
 * report.c - `gguf-forge report REPORT.json [--vs OTHER.json] [--svg FILE]`:
 * reads the per-tensor report that `quantize --report` writes, prints it as a
 * table with per-kind averages, or with --vs compares it with a report of the
 * same model (A/B per tensor, mean A/B per kind); the chart's data comes from
 * here, its layout from report_svg.c.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../formats/arch.h"
#include "../formats/json.h"
#include "cli.h"

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge report REPORT.json [--svg FILE]\n"
               "       gguf-forge report A.json --vs B.json [--svg FILE]\n\n"
               "Prints the per-tensor report written by 'gguf-forge quantize --report' (type, method, weight\n"
               "relative error, output relative error on calibration tokens when measured) and the mean per kind\n"
               "of matrix; --svg draws the relative error of every block's matrices, the embedding and the head as bars.\n"
               "--vs compares two reports of the same model: both errors and A/B per tensor, the mean A/B per kind,\n"
               "and with --svg the ratios as bars on a log scale (output errors when both reports have them).\n");
}

#define N_STEMS GF_LIN_COUNT /* kinds 0..6: the block matrices; 7: token_embd; 8: output */

int gf_report_kind(const char *name, int *layer) {
    const gf_tensor_name *t = gf_tensor_by_gguf_name(name, layer);
    if (!t) return -1;
    switch (t->kind) {
    case GF_TK_LINEAR: return t->slot;
    case GF_TK_EMBED: return N_STEMS;
    case GF_TK_OUTPUT: return N_STEMS + 1;
    default: return -1;
    }
}

const char *gf_report_kind_name(int k) {
    if (k >= 0 && k < N_STEMS) return gf_linear_stem(k);
    if (k == N_STEMS || k == N_STEMS + 1) return gf_top_tensor(k == N_STEMS ? GF_TOP_EMBD : GF_TOP_OUTPUT)->stem;
    return "?";
}

/* the error a chart plots: the output-activation error when the report has it, else the weight error */
static int has_output_error(const cJSON *tensors) {
    for (const cJSON *t = tensors->child; t; t = t->next)
        if (cJSON_IsNumber(cJSON_GetObjectItem(t, "output_rel_error"))) return 1;
    return 0;
}

/* a report's errors of `field` as a chart grid (n_blocks+2, GF_REPORT_KINDS), NAN where absent */
static gf_status load_grid(const char *path, const cJSON *tensors, const char *field, double **grid, int *n_blocks,
                           gf_err *err) {
    int nb = 0;
    *grid = NULL;
    for (const cJSON *t = tensors->child; t; t = t->next) {
        int layer, k = gf_report_kind(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")) ?: "", &layer);
        if (k < 0 || k >= N_STEMS || !cJSON_IsNumber(cJSON_GetObjectItem(t, field))) continue;
        if (layer >= GF_REPORT_MAX_BLOCKS)
            return gf_errf(err, GF_E_FORMAT, "%s: block %d: more than %d blocks", path, layer, GF_REPORT_MAX_BLOCKS);
        nb = layer + 1 > nb ? layer + 1 : nb;
    }
    if (!nb) return gf_errf(err, GF_E_FORMAT, "%s: no block matrices with a %s in the report", path, field);
    double *g = malloc(sizeof *g * (size_t)(nb + 2) * GF_REPORT_KINDS);
    if (!g) return gf_errf(err, GF_E_NOMEM, "out of memory");
    for (int i = 0; i < (nb + 2) * GF_REPORT_KINDS; i++) g[i] = NAN;
    for (const cJSON *t = tensors->child; t; t = t->next) {
        int layer, k = gf_report_kind(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")) ?: "", &layer);
        const cJSON *e = cJSON_GetObjectItem(t, field);
        if (k < 0 || !cJSON_IsNumber(e)) continue;
        int grp = k < N_STEMS ? layer : k == N_STEMS ? nb : nb + 1;
        g[grp * GF_REPORT_KINDS + k] = e->valuedouble;
    }
    *grid = g;
    *n_blocks = nb;
    return GF_OK;
}

static const char *field_label(int output) {
    return output ? "output relative error ||X(W-Q)^T|| / ||XW^T|| on calibration tokens (no unit)"
                  : "weight relative error ||W-Q|| / ||W|| (Frobenius norms, no unit)";
}

#define XLABEL "block (layer index); embd = token_embd, head = output"

static gf_status write_svg(const char *path, const char *report, const cJSON *tensors, gf_err *err) {
    int out = has_output_error(tensors), nb;
    double *g;
    gf_status st = load_grid(report, tensors, out ? "output_rel_error" : "weight_rel_error", &g, &nb, err);
    if (st) return st;
    char title[1200], ylabel[300];
    snprintf(title, sizeof title, "%s: %s per block and kind of matrix", report, out ? "output error" : "weight error");
    snprintf(ylabel, sizeof ylabel, "y: %s", field_label(out));
    gf_report_chart c = {.title = title, .ylabel = ylabel, .xlabel = XLABEL, .n_blocks = nb, .v = g};
    st = gf_report_svg(path, &c, err);
    free(g);
    return st;
}

static gf_status load_report(const char *path, cJSON **root, const cJSON **tensors, gf_err *err) {
    gf_status st = gf_json_load(path, (size_t)64 << 20, root, err);
    *tensors = st ? NULL : cJSON_GetObjectItem(*root, "tensors");
    if (!st && !cJSON_IsArray(*tensors))
        st = gf_errf(err, GF_E_FORMAT, "%s: no 'tensors' array: not a gguf-forge report", path);
    return st;
}

static void fmt_shape(char *buf, size_t n, const cJSON *sh) {
    char *s = cJSON_PrintUnformatted(sh);
    snprintf(buf, n, "%s", s ? s : "none");
    free(s);
}

/* both reports list the same tensors with the same shapes (the same model, or one of its shape) */
static gf_status check_same_model(const char *pa, const cJSON *ta, const char *pb, const cJSON *tb, gf_err *err) {
    int na = cJSON_GetArraySize(ta), nb = cJSON_GetArraySize(tb);
    for (const cJSON *a = ta->child; a; a = a->next) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(a, "name")) ?: "?";
        const cJSON *b = NULL;
        for (b = tb->child; b; b = b->next)
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(b, "name")) ?: "", name)) break;
        if (!b)
            return gf_errf(err, GF_E_VALUE, "%s and %s are reports of different models: tensor '%s' is in %s, not in %s",
                           pa, pb, name, pa, pb);
        const cJSON *sa = cJSON_GetObjectItem(a, "shape"), *sb = cJSON_GetObjectItem(b, "shape");
        if (!sa || !sb || !cJSON_Compare(sa, sb, 1)) {
            char s1[64], s2[64];
            fmt_shape(s1, sizeof s1, sa);
            fmt_shape(s2, sizeof s2, sb);
            return gf_errf(err, GF_E_VALUE, "%s and %s are reports of different model shapes: tensor '%s' is %s in %s, %s in %s",
                           pa, pb, name, s1, pa, s2, pb);
        }
    }
    if (na != nb)
        return gf_errf(err, GF_E_VALUE, "%s and %s are reports of different models: %d tensors against %d", pa, pb, na, nb);
    return GF_OK;
}

/* `report A --vs B`: per tensor both errors and A/B, the mean ratio per kind, the ratio chart */
static int cmd_vs(const char *pa, const cJSON *ta, const char *pb, const char *svg) {
    gf_err err = {0};
    cJSON *rb = NULL;
    const cJSON *tb;
    double *ga = NULL, *gb = NULL, *gr = NULL;
    int na = 0, nbl = 0, rc = GF_EXIT_OK;
    gf_status st = load_report(pb, &rb, &tb, &err);
    if (!st) st = check_same_model(pa, ta, pb, tb, &err);
    int out = !st && has_output_error(ta) && has_output_error(tb);
    const char *field = out ? "output_rel_error" : "weight_rel_error";
    if (!st) st = load_grid(pa, ta, field, &ga, &na, &err);
    if (!st) st = load_grid(pb, tb, field, &gb, &nbl, &err);
    if (!st && na != nbl) st = gf_errf(&err, GF_E_VALUE, "%s has %s in %d blocks, %s in %d", pa, field, na, pb, nbl);
    if (st) goto fail;
    printf("A = %s, B = %s: %s\n\n  %-28s %12s %12s %9s\n", pa, pb, field_label(out), "tensor", "A", "B", "A/B");
    double sum[GF_REPORT_KINDS] = {0};
    int cnt[GF_REPORT_KINDS] = {0};
    for (const cJSON *t = ta->child; t; t = t->next) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")) ?: "";
        int layer, k = gf_report_kind(name, &layer);
        if (k < 0) continue;
        int grp = k < N_STEMS ? layer : k == N_STEMS ? na : na + 1, i = grp * GF_REPORT_KINDS + k;
        if (!isfinite(ga[i]) || !isfinite(gb[i])) continue;
        char r[32] = "-";
        if (gb[i] > 0) {
            snprintf(r, sizeof r, "%.4f", ga[i] / gb[i]);
            sum[k] += ga[i] / gb[i], cnt[k]++;
        }
        printf("  %-28s %12.4g %12.4g %9s\n", name, ga[i], gb[i], r);
    }
    printf("\n  mean A/B per kind (below 1: A has the smaller error)\n");
    for (int k = 0; k < GF_REPORT_KINDS; k++)
        if (cnt[k]) printf("  %-12s %9.4f  over %d tensors\n", gf_report_kind_name(k), sum[k] / cnt[k], cnt[k]);
    if (svg) {
        int n = (na + 2) * GF_REPORT_KINDS;
        if (!(gr = malloc(sizeof *gr * (size_t)n))) {
            st = gf_errf(&err, GF_E_NOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < n; i++) gr[i] = isfinite(ga[i]) && isfinite(gb[i]) && gb[i] > 0 ? ga[i] / gb[i] : NAN;
        char title[2400], ylabel[400];
        snprintf(title, sizeof title, "A = %s vs B = %s: error ratio A/B per block and kind of matrix", pa, pb);
        snprintf(ylabel, sizeof ylabel, "y: A/B of the %s, log scale; below 1: A is better", field_label(out));
        gf_report_chart c = {.title = title, .ylabel = ylabel, .xlabel = XLABEL, .n_blocks = na, .v = gr,
                             .a = ga, .b = gb, .ratio = 1};
        if ((st = gf_report_svg(svg, &c, &err))) goto fail;
        printf("wrote %s\n", svg);
    }
    goto done;
fail:
    fprintf(stderr, "gguf-forge report: %s\n", err.msg);
    rc = gf_exit_code(st);
done:
    free(ga), free(gb), free(gr);
    cJSON_Delete(rb);
    return rc;
}
/* one report: the table, the means per kind, the block methods, the chart */
static int print_report(const char *path, const cJSON *root, const cJSON *tensors, const char *svg) {
    gf_err err = {0};
    gf_status st;
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(root, "model"));
    printf("%s: %s, type %s, methods blocks=%s embed=%s\n", path, model ? model : "?",
           cJSON_GetStringValue(cJSON_GetObjectItem(root, "type")) ?: "?",
           cJSON_GetStringValue(cJSON_GetObjectItem(root, "blocks_method")) ?: "?",
           cJSON_GetStringValue(cJSON_GetObjectItem(root, "embed_method")) ?: "?");
    printf("\n  %-28s %-5s %-9s %12s %12s %9s\n", "tensor", "type", "method", "weight rel.", "output rel.", "seconds");
    double sum[GF_REPORT_KINDS] = {0}, osum[GF_REPORT_KINDS] = {0};
    int cnt[GF_REPORT_KINDS] = {0}, ocnt[GF_REPORT_KINDS] = {0};
    for (const cJSON *t = tensors->child; t; t = t->next) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
        const cJSON *e = cJSON_GetObjectItem(t, "weight_rel_error"), *oe = cJSON_GetObjectItem(t, "output_rel_error");
        const cJSON *sec = cJSON_GetObjectItem(t, "seconds");
        if (!name || !cJSON_IsNumber(e)) continue;
        char oes[32] = "-";
        if (cJSON_IsNumber(oe)) snprintf(oes, sizeof oes, "%.4g", oe->valuedouble);
        printf("  %-28s %-5s %-9s %12.4g %12s %9.3f\n", name, cJSON_GetStringValue(cJSON_GetObjectItem(t, "type")) ?: "?",
               cJSON_GetStringValue(cJSON_GetObjectItem(t, "method")) ?: "?", e->valuedouble, oes,
               cJSON_IsNumber(sec) ? sec->valuedouble : 0);
        int layer, k = gf_report_kind(name, &layer);
        if (k >= 0) {
            sum[k] += e->valuedouble;
            cnt[k]++;
            if (cJSON_IsNumber(oe)) osum[k] += oe->valuedouble, ocnt[k]++;
        }
    }
    printf("\n  mean weight relative error per kind:");
    for (int k = 0; k < GF_REPORT_KINDS; k++)
        if (cnt[k]) printf(" %s %.4g", gf_report_kind_name(k), sum[k] / cnt[k]);
    printf("\n");
    int any_o = 0;
    for (int k = 0; k < GF_REPORT_KINDS; k++) any_o |= ocnt[k];
    if (any_o) {
        printf("  mean output relative error per kind:");
        for (int k = 0; k < GF_REPORT_KINDS; k++)
            if (ocnt[k]) printf(" %s %.4g", gf_report_kind_name(k), osum[k] / ocnt[k]);
        printf("\n");
    }
    /* block methods: what AWQ chose and AutoRound's loss before and after tuning */
    const cJSON *blocks = cJSON_GetObjectItem(root, "blocks");
    if (cJSON_IsArray(blocks) && cJSON_GetArraySize(blocks) > 0) {
        printf("\n  %-5s %-14s %14s %14s %7s %9s  %s\n", "block", "method", "loss min-max", "loss tuned", "ratio",
               "seconds", "awq alpha (q/k/v, o, gate/up, down)");
        for (const cJSON *b = blocks->child; b; b = b->next) {
            const cJSON *lm = cJSON_GetObjectItem(b, "loss_minmax"), *lt = cJSON_GetObjectItem(b, "loss_tuned");
            const cJSON *sec = cJSON_GetObjectItem(b, "seconds"), *al = cJSON_GetObjectItem(b, "awq_alpha");
            char l1[32] = "-", l2[32] = "-", ratio[32] = "-";
            if (cJSON_IsNumber(lm)) snprintf(l1, sizeof l1, "%.5g", lm->valuedouble);
            if (cJSON_IsNumber(lt)) snprintf(l2, sizeof l2, "%.5g", lt->valuedouble);
            if (cJSON_IsNumber(lm) && cJSON_IsNumber(lt) && lm->valuedouble > 0)
                snprintf(ratio, sizeof ratio, "%.3f", lt->valuedouble / lm->valuedouble);
            printf("  %-5d %-14s %14s %14s %7s %9.1f ", (int)cJSON_GetNumberValue(cJSON_GetObjectItem(b, "layer")),
                   cJSON_GetStringValue(cJSON_GetObjectItem(b, "method")) ?: "?", l1, l2, ratio,
                   cJSON_IsNumber(sec) ? sec->valuedouble : 0);
            for (const cJSON *a = cJSON_IsArray(al) ? al->child : NULL; a; a = a->next) {
                if (a->valuedouble == -2) printf(" -");
                else if (a->valuedouble < 0) printf(" none");
                else printf(" %.2f", a->valuedouble);
            }
            printf("\n");
        }
    }
    int rc = GF_EXIT_OK;
    if (svg) {
        if ((st = write_svg(svg, path, tensors, &err))) {
            fprintf(stderr, "gguf-forge report: %s\n", err.msg);
            rc = gf_exit_code(st);
        } else {
            printf("wrote %s\n", svg);
        }
    }
    return rc;
}

int gf_cmd_report(int argc, char **argv) {
    const char *path = NULL, *svg = NULL, *vs = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return GF_EXIT_OK;
        } else if (!strcmp(argv[i], "--svg") && i + 1 < argc) {
            svg = argv[++i];
        } else if (!strcmp(argv[i], "--vs") && i + 1 < argc) {
            vs = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            help(stderr);
            return GF_EXIT_USAGE;
        }
    }
    if (!path) {
        help(stderr);
        return GF_EXIT_USAGE;
    }
    gf_err err = {0};
    cJSON *root = NULL;
    const cJSON *tensors;
    gf_status st = load_report(path, &root, &tensors, &err);
    if (st) {
        fprintf(stderr, "gguf-forge report: %s\n", err.msg);
        cJSON_Delete(root);
        return gf_exit_code(st);
    }
    int rc = vs ? cmd_vs(path, tensors, vs, svg) : print_report(path, root, tensors, svg);
    cJSON_Delete(root);
    return rc;
}

