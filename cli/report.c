/*
 * report.c - `gguf-forge report REPORT.json [--svg FILE]`: reads the per-tensor
 * report that `quantize --report` writes, prints it as a table with per-kind
 * averages, and optionally draws per-layer relative-error bars as an SVG (one
 * bar per matrix of each block) for a quick look at where the error sits.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../formats/arch.h"
#include "../formats/json.h"
#include "cli.h"

static void help(FILE *f) {
    fprintf(f, "usage: gguf-forge report REPORT.json [--svg FILE]\n\n"
               "Prints the per-tensor report written by 'gguf-forge quantize --report' (type, method, weight\n"
               "relative error, output relative error on calibration tokens when measured) and the mean per kind\n"
               "of matrix; --svg draws the relative error of every block's matrices as bars.\n");
}

static const char *colors[] = {"#4e79a7", "#a0cbe8", "#f28e2b", "#e15759", "#59a14f", "#8cd17d", "#b07aa1"};
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

/* a block matrix: its kind (0 .. N_STEMS-1) and layer, or -1 */
static int layer_and_stem(const char *name, int *layer) {
    int k = gf_report_kind(name, layer);
    return k < N_STEMS ? k : -1;
}

/* bars of the output-activation error when the report has it, else of the weight error */
static int write_svg(const char *path, const cJSON *tensors, gf_err *err) {
    int n_layers = 0;
    double vmax = 0;
    const char *field = "weight_rel_error", *what = "weight";
    for (const cJSON *t = tensors->child; t; t = t->next)
        if (cJSON_IsNumber(cJSON_GetObjectItem(t, "output_rel_error"))) field = "output_rel_error", what = "output-activation";
    for (const cJSON *t = tensors->child; t; t = t->next) {
        int layer, k = layer_and_stem(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")) ?: "", &layer);
        const cJSON *e = cJSON_GetObjectItem(t, field);
        if (k < 0 || !cJSON_IsNumber(e)) continue;
        n_layers = layer + 1 > n_layers ? layer + 1 : n_layers;
        vmax = e->valuedouble > vmax ? e->valuedouble : vmax;
    }
    if (!n_layers || vmax <= 0) return gf_errf(err, GF_E_FORMAT, "no block matrices with errors in the report");
    const int bw = 8, gap = 14, h = 300, left = 60, top = 30;
    int width = left + n_layers * (N_STEMS * bw + gap) + 20;
    FILE *f = fopen(path, "w");
    if (!f) return gf_errf(err, GF_E_IO, "%s: cannot write", path);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            width, h + top + 70);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"18\">%s relative error per block (max %.3g)</text>\n", left, what, vmax);
    for (int i = 0; i <= 4; i++) {
        double v = vmax * i / 4;
        int y = top + h - (int)(h * i / 4);
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n", left, width - 10, y, y);
        fprintf(f, "<text x=\"4\" y=\"%d\">%.3g</text>\n", y + 4, v);
    }
    for (const cJSON *t = tensors->child; t; t = t->next) {
        int layer, k = layer_and_stem(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")) ?: "", &layer);
        const cJSON *e = cJSON_GetObjectItem(t, field);
        if (k < 0 || !cJSON_IsNumber(e)) continue;
        int bh = (int)lround(h * e->valuedouble / vmax), x = left + layer * (N_STEMS * bw + gap) + k * bw;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%s %.4g</title></rect>\n", x,
                top + h - bh, bw - 1, bh, colors[k], cJSON_GetObjectItem(t, "name")->valuestring, e->valuedouble);
    }
    for (int l = 0; l < n_layers; l++)
        fprintf(f, "<text x=\"%d\" y=\"%d\">%d</text>\n", left + l * (N_STEMS * bw + gap) + N_STEMS * bw / 2 - 4,
                top + h + 14, l);
    for (int k = 0; k < N_STEMS; k++)
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
                left + k * 90, top + h + 34, colors[k], left + k * 90 + 14, top + h + 43, gf_report_kind_name(k));
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) return gf_errf(err, GF_E_IO, "%s: write failed", path);
    return GF_OK;
}

int gf_cmd_report(int argc, char **argv) {
    const char *path = NULL, *svg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return GF_EXIT_OK;
        } else if (!strcmp(argv[i], "--svg") && i + 1 < argc) {
            svg = argv[++i];
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
    gf_status st = gf_json_load(path, (size_t)64 << 20, &root, &err);
    const cJSON *tensors = st ? NULL : cJSON_GetObjectItem(root, "tensors");
    if (!st && !cJSON_IsArray(tensors)) st = gf_errf(&err, GF_E_FORMAT, "%s: no 'tensors' array: not a gguf-forge report", path);
    if (st) {
        fprintf(stderr, "gguf-forge report: %s\n", err.msg);
        cJSON_Delete(root);
        return gf_exit_code(st);
    }
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
        if ((st = write_svg(svg, tensors, &err))) {
            fprintf(stderr, "gguf-forge report: %s\n", err.msg);
            rc = gf_exit_code(st);
        } else {
            printf("wrote %s\n", svg);
        }
    }
    cJSON_Delete(root);
    return rc;
}
