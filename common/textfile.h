/*
 * textfile.h - the one reader of text inputs (calibration text, `ppl -f`, the
 * task files of `eval`): a whole file into memory, gzip-compressed or not.
 * Compression is recognized by the gzip magic bytes (1f 8b), never by the name.
 */
#ifndef GF_TEXTFILE_H
#define GF_TEXTFILE_H

#include "gf.h"

/* Reads path into a NUL-terminated buffer (*out, free it; *out_len excludes the
 * NUL), inflating it when it is gzip data (several concatenated members too).
 * GF_E_FORMAT when the file, or its decompressed text, is over max_bytes, or the
 * gzip data is corrupt or truncated; the message names the file. */
gf_status gf_read_text(const char *path, size_t max_bytes, char **out, size_t *out_len, gf_err *err);

/* The same over a buffer already in memory (name for messages): a copy when it
 * is not gzip data.  The fuzz targets' entry. */
gf_status gf_text_from_buffer(const char *name, const unsigned char *buf, size_t len, size_t max_bytes, char **out,
                              size_t *out_len, gf_err *err);

#endif /* GF_TEXTFILE_H */
