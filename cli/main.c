/*
 * main.c - the gguf-forge program: dispatches to a subcommand, prints help,
 * version and the exit codes.  Subcommands live in cli/<name>.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../calib/dist.h"
#include "../engine/model.h"
#include "../formats/outfile.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} command;

static const command commands[] = {
    {"quantize", gf_cmd_quantize, "quantize MODEL_DIR -o OUT.gguf --type q4_0 [options]  convert and quantize a Hugging Face model"},
    {"inspect", gf_cmd_inspect, "inspect PATH [--json]                                 metadata and tensors of a GGUF file or model folder"},
    {"ppl", gf_cmd_ppl, "ppl MODEL.gguf -f TEXT [-c 512] [--kld-base BASE.gguf]    perplexity and KL divergence (bundled engine)"},
    {"eval", gf_cmd_eval, "eval MODEL.gguf --hellaswag FILE [--tasks N] [--vs BASE.gguf]  task accuracy as llama-perplexity scores it"},
    {"run", gf_cmd_run, "run MODEL.gguf -p PROMPT [-n 64]                          greedy generation, a smoke test"},
    {"bench", gf_cmd_bench, "bench MODEL.gguf [-p 512] [-n 128] [-r 3] [-t N]           engine speed as llama-bench measures it"},
    {"tune", gf_cmd_tune, "tune MODEL.gguf --base F32.gguf -o OUT.gguf [--head]     tune Q4_0/Q8_0 block scales end to end (KL to the base)"},
    {"report", gf_cmd_report, "report REPORT.json [--vs OTHER.json] [--svg FILE]       per-tensor error table (quantize --report)"},
};

static void usage(FILE *f) {
    fprintf(f, "gguf-forge %s - quantize Hugging Face LLMs to GGUF (Q4_0/Q8_0) for llama.cpp, on the CPU\n\n"
               "usage: gguf-forge COMMAND [options]   (gguf-forge COMMAND --help for its options)\n\n",
            GF_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "\nexit codes:\n"
               "  0    success\n"
               "  1    bad command line\n"
               "  2    a file could not be read or written (missing, permissions, disk full)\n"
               "  3    bad input: malformed or unsupported model, tokenizer or GGUF, NaN/Inf weights\n"
               "  4    the output file exists (use --force)\n"
               "  5    out of memory\n"
               "  130  interrupted (SIGINT/SIGTERM); no partial output is left\n");
}

int gf_exit_code(gf_status st) {
    switch (st) {
    case GF_OK: return GF_EXIT_OK;
    case GF_E_USAGE: return GF_EXIT_USAGE;
    case GF_E_IO: return GF_EXIT_IO;
    case GF_E_EXISTS: return GF_EXIT_EXISTS;
    case GF_E_NOMEM: return GF_EXIT_NOMEM;
    case GF_E_INTERRUPTED: return GF_EXIT_INTERRUPTED;
    default: return GF_EXIT_BADINPUT;
    }
}

gf_status gf_cli_model_open(const char *cmd, const char *path, gf_model **out, gf_err *err) {
    const double t0 = gf_time_now();
    gf_status st = gf_model_open(path, gf_kernels_detect(), out, err);
    if (st || !(*out)->n_widened) return st;
    const gf_model *m = *out;
    char types[256] = "";
    size_t at = 0;
    for (int t = 0; t < GF_TYPE_COUNT_; t++) {
        if (!m->n_widened_by_type[t]) continue;
        int n = snprintf(types + at, sizeof types - at, "%s%s %lld", at ? ", " : "", gf_type_name((gf_type)t),
                         (long long)m->n_widened_by_type[t]);
        if (n < 0 || (size_t)n >= sizeof types - at) break;
        at += (size_t)n;
    }
    fprintf(stderr, "%s: %s: %lld %s (%s) dequantized to f32 at load: %.2f MiB of f32 from %.2f MiB in the "
            "file, %.2f s\n", cmd, path, (long long)m->n_widened, m->n_widened == 1 ? "matrix" : "matrices", types,
            (double)m->widened_bytes / 1048576.0,
            (double)m->widened_src_bytes / 1048576.0, gf_time_now() - t0);
    return GF_OK;
}

/* The one piece of global state: a signal handler can only reach a static. */
static char tmp_path[4096];

static void on_signal(int sig) {
    if (tmp_path[0]) unlink(tmp_path);
    static const char msg[] = "\ngguf-forge: interrupted; no output written\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(sig == SIGINT || sig == SIGTERM ? GF_EXIT_INTERRUPTED : 1);
}

/* Signals are blocked while the temporary output is made, so one cannot slip between
 * its creation and the handler knowing its name. */
gf_status gf_cli_output_open(const char *path, int force, gf_outfile **f, gf_err *err) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    gf_status st = gf_outfile_open(path, force, f, err);
    if (!st) {
        snprintf(tmp_path, sizeof tmp_path, "%s", gf_outfile_temp_path(*f));
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return st;
}

void gf_cli_output_closed(void) { tmp_path[0] = '\0'; }

int gf_cli_int(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "gguf-forge %s: %s wants an integer in %ld..%ld, got '%s'\n", cmd, opt, lo, hi, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

/* A command inside MPI (make MPI=1; without it gf_dist_* do nothing): a failure on
 * any rank ends the whole job with its exit code, since the other ranks may be
 * waiting for it in a collective; rank 0 has already removed its temporary output. */
static int run_command(const command *c, int argc, char **argv) {
    gf_err err = {0};
    if (gf_dist_init(&argc, &argv, &err)) {
        fprintf(stderr, "gguf-forge: %s\n", err.msg);
        return GF_EXIT_IO;
    }
    int rc = c->run(argc - 1, argv + 1);
    if (rc) {
        if (gf_dist_size() > 1) fprintf(stderr, "gguf-forge: rank %d of %d failed (exit %d): ending the job\n",
                                        gf_dist_rank(), gf_dist_size(), rc);
        gf_dist_abort(rc);
    }
    gf_dist_finalize();
    return rc;
}

int main(int argc, char **argv) {
    /* A file-size limit must surface as a write error (EFBIG), not kill us. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return GF_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return GF_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gguf-forge %s\n", GF_VERSION);
        return GF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return run_command(&commands[i], argc, argv);
    fprintf(stderr, "gguf-forge: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return GF_EXIT_USAGE;
}
