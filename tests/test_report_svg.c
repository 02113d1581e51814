/*
 * test_report_svg.c - `gguf-forge report --svg` and `report A --vs B`, on
 * reports written here with known numbers.  Layout: the SVG is parsed and every
 * text, rect and line must lie inside its width and height, and no two texts
 * may overlap, for 1, 4, 24 and 80 blocks with every kind of matrix (so the
 * longest kind names are in the legend); text widths are estimated here,
 * independently of the writer, as TEXT_EM em per character.  rsvg-convert
 * (Debian librsvg2-bin) renders each file where it is installed.  --vs: the
 * mean A/B per kind in the table and every bar's A/B in the SVG's data against
 * ratios computed here; reports of different shapes or block counts refused
 * with the tensor named and no SVG written.
 */
#include "check.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sys/wait.h>

/* DejaVu Sans (rsvg's sans-serif here) averages ~0.55 em on mixed text, its
 * widest letters ~0.9 em: 0.7 em per character is conservative for our labels */
#define TEXT_EM 0.7
#define ASCENT 1.0   /* em above the baseline a glyph may reach */
#define DESCENT 0.3  /* em below it */
#define RATIO_TOL 1e-8  /* the SVG's data-ratio is printed with 9 digits */
#define MEAN_TOL 6e-5   /* the table's means are printed with 4 decimals */

static const char *prog(void) {
    static char buf[512];
    const char *b = getenv("BUILD");
    snprintf(buf, sizeof buf, "%s/gguf-forge", b && *b ? b : "build");
    return buf;
}

static char dir[] = "/tmp/gf-test-report-svg-XXXXXX";

static const char *stems[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
static const char *kinds[9] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
                               "token_embd", "output"};

/* A/B the --vs reports are built with: kind k of block l; l = -1 embedding, -2 head */
static double ratio_of(int l, int k) { return l == -1 ? 0.5 : l == -2 ? 2.0 : (k + 1.0) / (l + 2.0); }

static void add_tensor(cJSON *ts, const char *name, int rows, int cols, double w, double o) {
    cJSON *t = cJSON_CreateObject(), *sh = cJSON_CreateArray();
    cJSON_AddStringToObject(t, "name", name);
    cJSON_AddItemToArray(sh, cJSON_CreateNumber(cols));
    cJSON_AddItemToArray(sh, cJSON_CreateNumber(rows));
    cJSON_AddItemToObject(t, "shape", sh);
    cJSON_AddStringToObject(t, "type", "q4_0");
    cJSON_AddNumberToObject(t, "weight_rel_error", w);
    if (o >= 0) cJSON_AddNumberToObject(t, "output_rel_error", o);
    else cJSON_AddNullToObject(t, "output_rel_error");
    cJSON_AddItemToArray(ts, t);
}

/* a report of n blocks.  side 0: errors spanning three decades; side 1 (B): a
 * base error; side 2 (A): B's times ratio_of (weight) and 1.5 ratio_of (output);
 * with_out: output errors present; wide: blk.(n-1).ffn_down gets another shape */
static void write_report(const char *path, int n, int side, int with_out, int wide) {
    cJSON *r = cJSON_CreateObject(), *ts = cJSON_CreateArray();
    cJSON_AddStringToObject(r, "model", "synthetic");
    char name[64];
    for (int l = -1; l < n + 1; l++) {
        int top = l < 0 || l == n, nk = top ? 1 : 7;
        for (int k = 0; k < nk; k++) {
            int ll = l == -1 ? -1 : l == n ? -2 : l;
            if (l == -1) snprintf(name, sizeof name, "token_embd.weight");
            else if (l == n) snprintf(name, sizeof name, "output.weight");
            else snprintf(name, sizeof name, "blk.%d.%s.weight", l, stems[k]);
            double idx = (l + 1) * 7.0 + k, base = 1e-3 * (1 + idx);
            double w = side == 0 ? 1e-4 * pow(10, 3 * idx / (7.0 * (n + 2))) : base;
            double o = side == 0 ? 2 * w : 2 * base;
            if (side == 2) w *= ratio_of(ll, k), o *= 1.5 * ratio_of(ll, k);
            add_tensor(ts, name, top ? 151936 : 896, wide && l == n - 1 && k == 6 ? 4864 + 64 : 896, w,
                       with_out ? o : -1);
        }
    }
    cJSON_AddItemToObject(r, "tensors", ts);
    char *s = cJSON_Print(r);
    FILE *f = fopen(path, "w");
    if (f) fputs(s, f), fclose(f);
    free(s);
    cJSON_Delete(r);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    if (b) b[got] = 0;
    return b;
}

/* attribute `key` of the tag starting at p (up to its '>'), or NULL */
static const char *attr(const char *p, const char *key, char *buf, size_t n) {
    const char *end = strchr(p, '>');
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", key);
    const char *a = strstr(p, pat);
    if (!a || !end || a > end) return NULL;
    a += strlen(pat);
    const char *q = strchr(a, '"');
    size_t len = (size_t)(q - a) < n - 1 ? (size_t)(q - a) : n - 1;
    memcpy(buf, a, len);
    buf[len] = 0;
    return buf;
}

static double num_attr(const char *p, const char *key) {
    char b[128];
    return attr(p, key, b, sizeof b) ? strtod(b, NULL) : NAN;
}

typedef struct { double x0, y0, x1, y1; char s[256]; } box;

/* every element inside W x H; texts pairwise apart; the legend names each kind */
static void check_layout(const char *svgpath, int n_blocks, int *out_w, int *out_h) {
    char *svg = slurp(svgpath);
    CHECK(svg != NULL, "%s not written", svgpath);
    if (!svg) return;
    const char *root = strstr(svg, "<svg ");
    double W = root ? num_attr(root, "width") : NAN, H = root ? num_attr(root, "height") : NAN;
    double fs = root ? num_attr(root, "font-size") : NAN;
    CHECK(W > 0 && H > 0 && fs > 0, "%s: no width/height/font-size on <svg>", svgpath);
    *out_w = (int)W, *out_h = (int)H;
    static box texts[4096];
    int nt = 0, bad = 0, n_el = 0, legend[9] = {0};
    for (const char *p = strchr(svg + 1, '<'); p; p = strchr(p + 1, '<')) {
        double x0, y0, x1, y1;
        if (!strncmp(p, "<text ", 6)) {
            const char *c = strchr(p, '>') + 1, *e = strstr(c, "</text>");
            box b = {0};
            int len = 0;
            for (const char *q = c; q < e; q++, len++)
                if (*q == '&') q = strchr(q, ';'); /* an entity is one character */
            snprintf(b.s, sizeof b.s, "%.*s", (int)(e - c), c);
            double w = len * TEXT_EM * fs, x = num_attr(p, "x"), y = num_attr(p, "y");
            char an[16] = "start";
            attr(p, "text-anchor", an, sizeof an);
            x0 = !strcmp(an, "end") ? x - w : !strcmp(an, "middle") ? x - w / 2 : x;
            x1 = x0 + w, y0 = y - ASCENT * fs, y1 = y + DESCENT * fs;
            b.x0 = x0, b.y0 = y0, b.x1 = x1, b.y1 = y1;
            if (nt < 4096) texts[nt++] = b;
            for (int k = 0; k < 9; k++) legend[k] += !strcmp(b.s, kinds[k]);
        } else if (!strncmp(p, "<rect ", 6)) {
            x0 = num_attr(p, "x"), y0 = num_attr(p, "y");
            x1 = x0 + num_attr(p, "width"), y1 = y0 + num_attr(p, "height");
        } else if (!strncmp(p, "<line ", 6)) {
            x0 = fmin(num_attr(p, "x1"), num_attr(p, "x2")), x1 = fmax(num_attr(p, "x1"), num_attr(p, "x2"));
            y0 = fmin(num_attr(p, "y1"), num_attr(p, "y2")), y1 = fmax(num_attr(p, "y1"), num_attr(p, "y2"));
        } else {
            continue;
        }
        n_el++;
        if (!(x0 >= 0 && y0 >= 0 && x1 <= W && y1 <= H && x1 >= x0 && y1 >= y0)) {
            if (bad++ < 5) fprintf(stderr, "  outside %gx%g: [%g,%g]x[%g,%g] %.60s\n", W, H, x0, x1, y0, y1, p);
        }
    }
    CHECK(bad == 0, "%s (%d blocks): %d of %d elements outside the picture", svgpath, n_blocks, bad, n_el);
    int overlaps = 0;
    for (int i = 0; i < nt; i++)
        for (int j = i + 1; j < nt; j++)
            if (texts[i].x0 < texts[j].x1 && texts[j].x0 < texts[i].x1 && texts[i].y0 < texts[j].y1 &&
                texts[j].y0 < texts[i].y1 && overlaps++ < 5)
                fprintf(stderr, "  texts overlap: '%s' and '%s'\n", texts[i].s, texts[j].s);
    CHECK(overlaps == 0, "%s (%d blocks): %d pairs of texts overlap", svgpath, n_blocks, overlaps);
    for (int k = 0; k < 9; k++) CHECK(legend[k] == 1, "%s: legend has '%s' %d times", svgpath, kinds[k], legend[k]);
    free(svg);
}

/* rsvg-convert renders the file into a PNG of the SVG's size */
static void check_renders(const char *svgpath, int w, int h) {
    if (system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
        SKIP_TOOLS("rsvg-convert not installed (Debian librsvg2-bin; scripts/deps.sh dev): %s not rendered", svgpath);
        return;
    }
    char cmd[1400], png[700];
    snprintf(png, sizeof png, "%s.png", svgpath);
    snprintf(cmd, sizeof cmd, "rsvg-convert '%s' -o '%s' 2>&1", svgpath, png);
    int rc = system(cmd);
    CHECK(rc == 0, "%s exited %d", cmd, rc);
    unsigned char hd[24] = {0};
    FILE *f = fopen(png, "rb");
    size_t got = f ? fread(hd, 1, 24, f) : 0;
    if (f) fclose(f);
    int pw = hd[16] << 24 | hd[17] << 16 | hd[18] << 8 | hd[19], ph = hd[20] << 24 | hd[21] << 16 | hd[22] << 8 | hd[23];
    CHECK(got == 24 && !memcmp(hd + 1, "PNG", 3) && pw == w && ph == h, "%s: PNG %dx%d, SVG %dx%d", png, pw, ph, w, h);
}

static int run(const char *args, const char *tag) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s report %s >%s/%s.out 2>%s/%s.err", prog(), args, dir, tag, dir, tag);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_layout(void) {
    static const int sizes[] = {1, 4, 24, 80};
    for (int i = 0; i < 4; i++) {
        char rep[600], svg[600], args[1400];
        snprintf(rep, sizeof rep, "%s/l%d.json", dir, sizes[i]);
        snprintf(svg, sizeof svg, "%s/l%d.svg", dir, sizes[i]);
        write_report(rep, sizes[i], 0, 0, 0);
        snprintf(args, sizeof args, "%s --svg %s", rep, svg);
        CHECK(run(args, "layout") == 0, "report %s exited non-zero", args);
        int w = 0, h = 0;
        check_layout(svg, sizes[i], &w, &h);
        printf("  %2d blocks: %d x %d px\n", sizes[i], w, h);
        check_renders(svg, w, h);
    }
}

/* the table's "  KIND   MEAN  over N tensors" lines against ratio_of */
static void check_table(const char *tag, double scale, int n) {
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/%s.out", dir, tag);
    FILE *f = fopen(path, "r");
    int seen = 0, in_means = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, "mean A/B per kind")) in_means = 1;
        char kind[64];
        double mean;
        int cnt;
        if (!in_means || sscanf(line, " %63s %lf over %d", kind, &mean, &cnt) != 3) continue;
        for (int k = 0; k < 9; k++) {
            if (strcmp(kind, kinds[k])) continue;
            double want = 0;
            int wn = k < 7 ? n : 1;
            for (int l = 0; l < n; l++) want += ratio_of(l, k);
            want = k < 7 ? want / n : ratio_of(k == 7 ? -1 : -2, k);
            want *= scale;
            CHECK(fabs(mean - want) < MEAN_TOL && cnt == wn, "%s: %s mean A/B %g over %d, want %.6f over %d", tag,
                  kind, mean, cnt, want, wn);
            seen++;
        }
    }
    if (f) fclose(f);
    CHECK(seen == 9, "%s: %d of 9 kinds in the table's means", tag, seen);
}

/* every bar's data-ratio, data-a, data-b against the numbers the reports were built with */
static void check_svg_ratios(const char *svgpath, double scale, int n) {
    char *svg = slurp(svgpath);
    CHECK(svg != NULL, "%s not written", svgpath);
    if (!svg) return;
    int bars = 0, wrong = 0;
    for (const char *p = strstr(svg, "<rect "); p; p = strstr(p + 1, "<rect ")) {
        char kind[64];
        if (!attr(p, "data-ratio", kind, sizeof kind)) continue;
        double r = num_attr(p, "data-ratio"), a = num_attr(p, "data-a"), b = num_attr(p, "data-b");
        int g = (int)num_attr(p, "data-group");
        attr(p, "data-kind", kind, sizeof kind);
        int k = -1;
        for (int i = 0; i < 9; i++)
            if (!strcmp(kind, kinds[i])) k = i;
        int l = g < n ? g : g == n ? -1 : -2;
        double want = scale * ratio_of(l, k);
        if (k < 0 || fabs(r - want) > RATIO_TOL * want || fabs(a / b - want) > RATIO_TOL * want) {
            if (wrong++ < 5) fprintf(stderr, "  bar group %d %s: ratio %.9g (a/b %.9g), want %.9g\n", g, kind, r, a / b, want);
        }
        bars++;
    }
    CHECK(bars == 7 * n + 2 && wrong == 0, "%s: %d bars (want %d), %d wrong ratios", svgpath, bars, 7 * n + 2, wrong);
    free(svg);
}

static void test_vs(void) {
    const int n = 4;
    char a[600], b[600], args[2000], svg[600];
    for (int out = 0; out < 2; out++) {
        snprintf(a, sizeof a, "%s/a%d.json", dir, out);
        snprintf(b, sizeof b, "%s/b%d.json", dir, out);
        snprintf(svg, sizeof svg, "%s/vs%d.svg", dir, out);
        write_report(a, n, 2, out, 0);
        write_report(b, n, 1, out, 0);
        snprintf(args, sizeof args, "%s --vs %s --svg %s", a, b, svg);
        const char *tag = out ? "vs_out" : "vs_weight";
        CHECK(run(args, tag) == 0, "report %s exited non-zero", args);
        check_table(tag, out ? 1.5 : 1.0, n);
        check_svg_ratios(svg, out ? 1.5 : 1.0, n);
        int w, h;
        check_layout(svg, n, &w, &h);
        check_renders(svg, w, h);
    }
    /* refusals: another shape, another number of blocks */
    struct { int blocks, wide; const char *want; } bad[] = {{n, 1, "blk.3.ffn_down.weight"}, {n - 1, 0, "blk.3"}};
    for (int i = 0; i < 2; i++) {
        snprintf(b, sizeof b, "%s/bad%d.json", dir, i);
        snprintf(svg, sizeof svg, "%s/bad%d.svg", dir, i);
        write_report(b, bad[i].blocks, 1, 0, bad[i].wide);
        snprintf(args, sizeof args, "%s/a0.json --vs %s --svg %s", dir, b, svg);
        int rc = run(args, "bad");
        char errp[600];
        snprintf(errp, sizeof errp, "%s/bad.err", dir);
        char *msg = slurp(errp);
        CHECK(rc != 0 && msg && strstr(msg, bad[i].want) && strstr(msg, "different model"),
              "report %s: exit %d, message '%s' (want the tensor '%s' named)", args, rc, msg ? msg : "", bad[i].want);
        CHECK(access(svg, F_OK) != 0, "%s written although the reports differ", svg);
        if (msg) printf("  refused: %s", msg);
        free(msg);
    }
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_layout();
    test_vs();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!getenv("KEEP") && !check_failed && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_done("test_report_svg");
}
