/*
 * test_ordering.c - every quantization method against min-max on what they are
 * for: qwen2-tiny quantized to Q4_0 by each block method (embedding and head
 * left to min-max at Q8_0, so only the blocks differ), and each file's mean KL
 * divergence from the F32 model on the first chunks of held-out text
 * (../shared/data/nlp-valid.txt, in-domain, never used for calibration) must be
 * below min-max's (by a measured margin).  Small calibration (the built-in text) to stay fast.
 */
#include "kld.h"

#define CHUNKS 4             /* windows of 256 tokens, the second half of each scored: 512 positions */
#define TEXT_BYTES 20000     /* enough text for CHUNKS windows */
#define NSAMPLES 8
#define SEQLEN 128
#define ITERS 20             /* AutoRound iterations per block */
/* Each method's KLD must be at most this fraction of min-max's.  Measured (4 chunks):
 * min-max 0.00362; omse 0.918, imatrix 0.924, awq 0.786, autoround 0.798,
 * awq+autoround 0.798 of it. */
#define MAX_OVER_MINMAX 0.96

int main(void) {
    char dir[1024], text[1024];
    if (!check_shared_path(dir, sizeof dir, "models/qwen2-tiny/f32") ||
        !check_shared_path(text, sizeof text, "data/nlp-valid.txt"))
        return check_done("test_ordering");
    kld_ref ref;
    if (!kld_ref_open(&ref, dir, text, TEXT_BYTES, CHUNKS)) return check_done("test_ordering");
    static const char *names[] = {"minmax", "omse", "imatrix", "awq", "autoround", "awq+autoround"};
    enum { N_METHODS = sizeof names / sizeof names[0] };
    gf_calib_opts co = {.nsamples = NSAMPLES, .seqlen = SEQLEN};
    gf_ar_opts ar = {.iters = ITERS, .batch = 2, .tune_range = 1};
    double kld[N_METHODS];
    for (int i = 0; i < N_METHODS; i++) {
        gf_err err = {0};
        kld_file k;
        gf_convert_opts o = {.type = GF_TYPE_Q4_0, .embed_type = -1, .output_type = -1,
                             .blocks = gf_qmethod_find(names[i]), .calib = &co, .autoround = &ar};
        gf_status rc = kld_convert(dir, &o, &k, &err);
        CHECK(rc == GF_OK, "%s: %s", names[i], err.msg);
        kld[i] = rc ? NAN : kld_of(&ref, k.m);
        printf("  q4_0 --blocks %-13s KLD vs F32 %.6f (x%.4f of min-max's)\n", names[i], kld[i], kld[i] / kld[0]);
        kld_file_free(&k);
    }
    int worse = 0;
    for (int i = 1; i < N_METHODS; i++) worse += !(kld[i] < MAX_OVER_MINMAX * kld[0]);
    CHECK(worse == 0, "%d methods not below %.2f x min-max's KLD %.5f", worse, MAX_OVER_MINMAX, kld[0]);
    kld_ref_free(&ref);
    return check_done("test_ordering");
}
