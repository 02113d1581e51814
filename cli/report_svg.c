/*
 * report_svg.c - the SVG bar chart of `gguf-forge report --svg`: one group of
 * bars per block (one bar per kind of matrix), then token_embd and the head.
 * The picture's size follows its content: the groups, the title, the axis
 * labels and a legend that wraps; text widths are estimated from the character
 * count (REPORT_SVG_CHAR_W em per character, wide enough for capitals), so no
 * element is placed outside the width/height.  Values spanning more than a
 * decade, and all ratios, are drawn on a log scale.  Does not parse reports.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/arch.h"
#include "cli.h"

#define FS 11            /* font size, px */
#define CHAR_W (REPORT_SVG_CHAR_W * FS)
#define M 10             /* outer margin, px */
#define PH 260           /* plot height, px */
#define SWATCH 10        /* legend colour square, px */

static const char *colors[GF_REPORT_KINDS] = {"#4e79a7", "#a0cbe8", "#f28e2b", "#e15759", "#59a14f",
                                              "#8cd17d", "#b07aa1", "#9c755f", "#79706e"};

static double text_w(const char *s) { return (double)strlen(s) * CHAR_W; }

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* the ladder value m * 10^d (m in lad) just below v (up = 0) or just above it */
static double ladder(double v, const double *lad, int nl, int up) {
    int d = (int)floor(log10(v));
    double best = up ? INFINITY : 0;
    for (int dd = d - 1; dd <= d + 1; dd++)
        for (int i = 0; i < nl; i++) {
            double t = lad[i] * pow(10, dd);
            if (up ? t >= v * (1 - 1e-12) && t < best : t <= v * (1 + 1e-12) && t > best) best = t;
        }
    return best;
}

/* the y scale: log10 of [lo, hi] or linear [0, hi]; ticks at decades (and 2, 5 when few) */
typedef struct {
    int log;
    double lo, hi;
    int n_ticks;
    double ticks[64];
} scale;

static void make_scale(const gf_report_chart *c, scale *s) {
    double vmin = INFINITY, vmax = 0;
    int n = (c->n_blocks + 2) * GF_REPORT_KINDS;
    for (int i = 0; i < n; i++) {
        double v = c->v[i];
        if (!isfinite(v) || v <= 0) continue;
        vmin = v < vmin ? v : vmin;
        vmax = v > vmax ? v : vmax;
    }
    if (c->ratio) { /* ratios: 1 always on the axis, the bars start there */
        vmin = vmin < 1 ? vmin : 1;
        vmax = vmax > 1 ? vmax : 1;
    }
    if (vmax <= 0) vmin = vmax = 1;
    s->log = c->ratio || vmax / vmin > 10;
    s->n_ticks = 0;
    if (s->log) {
        /* lo and hi on a ladder of round numbers, finer when the values span less */
        static const double fine[] = {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9}, mid[] = {1, 2, 5}, coarse[] = {1};
        double span = vmax / vmin;
        const double *lad = span <= 3 ? fine : span <= 300 ? mid : coarse;
        int nl = span <= 3 ? 12 : span <= 300 ? 3 : 1;
        /* 0.9: the smallest value gets a visible bar */
        s->lo = ladder(vmin * 0.9, lad, nl, 0), s->hi = ladder(vmax, lad, nl, 1);
        if (s->hi <= s->lo) s->hi = ladder(s->lo * 1.01, lad, nl, 1);
        int d0 = (int)floor(log10(s->lo) + 1e-9), d1 = (int)ceil(log10(s->hi) - 1e-9);
        int step = (d1 - d0 + 9) / 10; /* at most ~10 decade labels */
        for (int d = d0; d <= d1; d++)
            for (int i = 0; i < nl && s->n_ticks < 60; i++) {
                double t = lad[i] * pow(10, d);
                if (t < s->lo * (1 - 1e-9) || t > s->hi * (1 + 1e-9) || (nl == 1 && (d - d0) % step)) continue;
                s->ticks[s->n_ticks++] = t;
            }
    } else {
        double mag = pow(10, floor(log10(vmax))), top = ceil(vmax / mag) * mag;
        s->lo = 0, s->hi = top;
        for (int i = 0; i <= 4; i++) s->ticks[s->n_ticks++] = top * i / 4;
    }
}

static double y_of(const scale *s, double v, double top) {
    double t;
    if (s->log) {
        v = v > s->lo ? v : s->lo;
        t = (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo));
    } else {
        t = v / s->hi;
    }
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return top + PH * (1 - t);
}

/* group g: its label and whether it has any bar (blocks always count) */
static int group_used(const gf_report_chart *c, int g) {
    if (g < c->n_blocks) return 1;
    for (int k = 0; k < GF_REPORT_KINDS; k++)
        if (isfinite(c->v[g * GF_REPORT_KINDS + k])) return 1;
    return 0;
}

static void group_label(const gf_report_chart *c, int g, char *buf, size_t n) {
    if (g < c->n_blocks) snprintf(buf, n, "%d", g);
    else snprintf(buf, n, "%s", g == c->n_blocks ? "embd" : "head");
}

typedef struct {
    double width, height, left, top, bw, gap;
    double gx[GF_REPORT_MAX_BLOCKS + 2]; /* x of each group's first bar; -1: group not drawn */
    double legend_y;                     /* baseline of the first legend row */
    int label_step;                      /* every label_step-th block is labelled */
    int present[GF_REPORT_KINDS];        /* the kinds with a bar: the legend's entries */
} layout;

static double legend_entry_w(int k) { return SWATCH + 4 + text_w(gf_report_kind_name(k)) + 14; }

/* x of every group's first bar from bw and gap; returns the plot's right end */
static double place_groups(const gf_report_chart *c, layout *L) {
    int nb = c->n_blocks;
    double block_w = GF_LIN_COUNT * L->bw + L->gap, x = L->left + L->gap / 2;
    char last[16];
    snprintf(last, sizeof last, "%d", nb - 1);
    L->label_step = 1;
    while (L->label_step * block_w < text_w(last) + 4) L->label_step++;
    for (int g = 0; g < nb + 2; g++) {
        if (!group_used(c, g)) {
            L->gx[g] = -1;
            continue;
        }
        if (g < nb) {
            L->gx[g] = x;
            x += block_w;
        } else { /* one bar, centred under its label */
            double w = text_w("head") + L->gap;
            L->gx[g] = x + (w - L->bw) / 2;
            x += w;
        }
    }
    return x;
}

static void make_layout(const gf_report_chart *c, const scale *s, layout *L) {
    int nb = c->n_blocks;
    L->bw = nb <= 8 ? 8 : nb <= 32 ? 4 : 2;
    L->gap = nb <= 32 ? 8 : 4;
    double tick_w = 0;
    for (int i = 0; i < s->n_ticks; i++) {
        char t[32];
        snprintf(t, sizeof t, "%.3g", s->ticks[i]);
        tick_w = text_w(t) > tick_w ? text_w(t) : tick_w;
    }
    L->left = M + tick_w + 6;
    L->top = M + 3 * (FS + 6);                 /* title and y-axis label above the plot */
    double x = place_groups(c, L);
    double need = x + M;
    need = fmax(need, 2 * M + text_w(c->title));
    need = fmax(need, 2 * M + text_w(c->ylabel));
    need = fmax(need, 2 * M + text_w(c->xlabel));
    need = fmax(need, 2 * M + legend_entry_w(GF_REPORT_KINDS - 1));
    L->width = ceil(fmax(need, 400));
    /* a plot narrower than its title: wider bars and gaps (up to 12 px) fill the picture */
    double avail = L->width - M - L->left, used = x - L->left;
    if (used < avail && L->bw < 12) {
        double f = fmin(avail / used, 12 / L->bw);
        L->bw = floor(L->bw * f * 2) / 2, L->gap = floor(L->gap * f * 2) / 2;
        place_groups(c, L);
    }
    for (int i = 0; i < (nb + 2) * GF_REPORT_KINDS; i++)
        if (isfinite(c->v[i])) L->present[i % GF_REPORT_KINDS] = 1;
    /* the legend wraps at the width */
    double lx = M, ly = L->top + PH + 2 * (FS + 6) + FS + 8;
    L->legend_y = ly;
    for (int k = 0; k < GF_REPORT_KINDS; k++) {
        if (!L->present[k]) continue;
        if (lx + legend_entry_w(k) > L->width - M + 14 && lx > M) lx = M, ly += FS + 8;
        lx += legend_entry_w(k);
    }
    L->height = ceil(ly + 4 + M);
}

static void draw_axes(FILE *f, const gf_report_chart *c, const scale *s, const layout *L) {
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">", M, M + FS);
    xml_text(f, c->title);
    fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\">", M, M + 2 * FS + 6);
    xml_text(f, c->ylabel);
    fprintf(f, "</text>\n");
    double right = L->width - M;
    for (int i = 0; i < s->n_ticks; i++) {
        double y = y_of(s, s->ticks[i], L->top);
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", L->left, right, y, y,
                c->ratio && s->ticks[i] == 1 ? "#444" : "#ddd");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L->left - 6, y + FS / 3.0,
                s->ticks[i]);
    }
    double ly = L->top + PH + FS + 4;
    for (int g = 0; g < c->n_blocks + 2; g++) {
        if (L->gx[g] < 0 || (g < c->n_blocks && g % L->label_step)) continue;
        char lab[16];
        group_label(c, g, lab, sizeof lab);
        double w = g < c->n_blocks ? GF_LIN_COUNT * L->bw : L->bw;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", L->gx[g] + w / 2, ly, lab);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", L->left, ly + FS + 6);
    xml_text(f, c->xlabel);
    fprintf(f, "</text>\n");
}

static void draw_bars(FILE *f, const gf_report_chart *c, const scale *s, const layout *L) {
    double base = c->ratio ? y_of(s, 1, L->top) : L->top + PH;
    for (int g = 0; g < c->n_blocks + 2; g++) {
        if (L->gx[g] < 0) continue;
        for (int k = 0; k < GF_REPORT_KINDS; k++) {
            double v = c->v[g * GF_REPORT_KINDS + k];
            if (!isfinite(v)) continue;
            double y = y_of(s, v, L->top), x = L->gx[g] + (g < c->n_blocks ? k * L->bw : 0);
            double y0 = y < base ? y : base, h = fmax(fabs(base - y), 1); /* a ratio of 1 stays visible */
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" data-group=\"%d\" "
                       "data-kind=\"%s\"", x, y0, L->bw - (L->bw > 2 ? 1 : 0.5), h, colors[k], g, gf_report_kind_name(k));
            if (c->ratio)
                fprintf(f, " data-a=\"%.9g\" data-b=\"%.9g\" data-ratio=\"%.9g\"", c->a[g * GF_REPORT_KINDS + k],
                        c->b[g * GF_REPORT_KINDS + k], v);
            else fprintf(f, " data-value=\"%.9g\"", v);
            fprintf(f, "/>\n");
        }
    }
}

static void draw_legend(FILE *f, const layout *L) {
    double lx = M, ly = L->legend_y;
    for (int k = 0; k < GF_REPORT_KINDS; k++) {
        if (!L->present[k]) continue;
        if (lx + legend_entry_w(k) > L->width - M + 14 && lx > M) lx = M, ly += FS + 8;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\"/>", lx, ly - SWATCH + 1, SWATCH,
                SWATCH, colors[k]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", lx + SWATCH + 4, ly, gf_report_kind_name(k));
        lx += legend_entry_w(k);
    }
}

gf_status gf_report_svg(const char *path, const gf_report_chart *c, gf_err *err) {
    if (c->n_blocks < 1 || c->n_blocks > GF_REPORT_MAX_BLOCKS)
        return gf_errf(err, GF_E_FORMAT, "%s: %d blocks: expected 1 .. %d", path, c->n_blocks, GF_REPORT_MAX_BLOCKS);
    scale s;
    make_scale(c, &s);
    layout *L = calloc(1, sizeof *L);
    if (!L) return gf_errf(err, GF_E_NOMEM, "out of memory");
    make_layout(c, &s, L);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    gf_status st = GF_OK;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        st = gf_errf(err, GF_E_IO, "%s: cannot write", tmp);
        goto done;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"%d\">\n", L->width, L->height, L->width, L->height, FS);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", L->width, L->height);
    draw_axes(f, c, &s, L);
    draw_bars(f, c, &s, L);
    draw_legend(f, L);
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        st = gf_errf(err, GF_E_IO, "%s: write failed", path);
    }
done:
    free(L);
    return st;
}
