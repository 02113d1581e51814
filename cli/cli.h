/*
 * cli.h - the subcommands of the gguf-forge program.  Each takes its own argv
 * (argv[0] is the subcommand name) and returns the process exit code.
 * Only cli/ prints to the terminal or chooses exit codes.
 */
#ifndef GF_CLI_H
#define GF_CLI_H

#include "../common/gf.h"

/* Exit codes, documented in `gguf-forge --help`. */
enum {
    GF_EXIT_OK = 0,
    GF_EXIT_USAGE = 1,       /* bad command line                                  */
    GF_EXIT_IO = 2,          /* a file could not be read or written               */
    GF_EXIT_BADINPUT = 3,    /* malformed or unsupported input, bad weights       */
    GF_EXIT_EXISTS = 4,      /* output exists; use --force                        */
    GF_EXIT_NOMEM = 5,
    GF_EXIT_INTERRUPTED = 130,
};

int gf_exit_code(gf_status st);

/* An integer option's value in lo..hi, or -1 after a message naming `gguf-forge cmd` and opt. */
int gf_cli_int(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out);

/* gf_model_open with the detected kernel set; when matrices had to be dequantized to
 * F32 at load (types no kernel multiplies), says so on stderr with their types, the
 * memory it took and the load time. */
struct gf_model;
gf_status gf_cli_model_open(const char *cmd, const char *path, struct gf_model **out, gf_err *err);

/* The output file of a command (formats/outfile.h), its temporary removed on SIGINT or
 * SIGTERM until gf_cli_output_closed (after its commit or abort). */
struct gf_outfile;
gf_status gf_cli_output_open(const char *path, int force, struct gf_outfile **f, gf_err *err);
void gf_cli_output_closed(void);

int gf_cmd_quantize(int argc, char **argv);
int gf_cmd_tune(int argc, char **argv);
int gf_cmd_inspect(int argc, char **argv);
int gf_cmd_ppl(int argc, char **argv);
int gf_cmd_eval(int argc, char **argv);
int gf_cmd_run(int argc, char **argv);
int gf_cmd_report(int argc, char **argv);
int gf_cmd_bench(int argc, char **argv);

/* Kinds of matrix the reports average over: the seven block matrices (attn_q ..
 * ffn_down), token_embd, output.  gf_report_kind: the kind of GGUF tensor `name`
 * (its block in *layer, -1 outside blocks), or -1 for other tensors. */
#define GF_REPORT_KINDS 9
int gf_report_kind(const char *name, int *layer);
const char *gf_report_kind_name(int k);

/* The report's bar chart (report_svg.c): groups 0..n_blocks-1 are the blocks,
 * n_blocks is token_embd, n_blocks+1 the head; v is (n_blocks+2, GF_REPORT_KINDS),
 * NAN where a tensor is absent.  ratio: v = a/b, drawn on a log scale around 1.
 * Writes path.tmp and renames it, so a failure leaves no half-written file. */
#define GF_REPORT_MAX_BLOCKS 1024
#define REPORT_SVG_CHAR_W 0.7 /* estimated text width per character, em: wider than sans-serif's average */
typedef struct {
    const char *title, *ylabel, *xlabel;
    int n_blocks;
    const double *v;          /* (n_blocks+2, GF_REPORT_KINDS) plotted value */
    const double *a, *b;      /* ratio charts: the two errors, same shape; else NULL */
    int ratio;
} gf_report_chart;
gf_status gf_report_svg(const char *path, const gf_report_chart *c, gf_err *err);

#endif /* GF_CLI_H */
