/*
 * tools/rvf/input.h - vector input files for `rvf ingest` and `rvf query
 * --queries`: fvecs, bvecs and idx through tools/data's reader; npy, csv and
 * jsonl parsed here. All of them may be gzip-compressed.
 *
 * A reader hands out batches of rows. Each row has its own width (text
 * formats can be ragged: the store rejects a wrong dimension with a reason,
 * so one bad line does not stop an ingest), an id (--ids-from + row index,
 * or the jsonl "id"), optional metadata (jsonl "meta"), and its position in
 * the input (1-based line for text, 0-based row for binary) for messages.
 * A row that cannot be parsed at all becomes a "bad" row with a reason.
 * Structural problems (bad header, truncated binary file) end the read with
 * an error message naming the file.
 *
 * jsonl line: {"id":N,"vector":[x,...],"meta":{"<field id>":VALUE,...}}
 *   id optional (default: the next id counting up from --ids-from over the
 *   rows read), meta optional; vector
 *   values are JSON numbers or the strings "nan", "inf", "-inf"; VALUE as in
 *   rvf/meta.h (typed {"u64":..} or plain).
 * csv: one vector per line, comma-separated numbers; a first line whose
 *   first field is not a number is a header and is skipped; blank lines and
 *   lines starting with '#' are skipped.
 * npy: NumPy .npy v1-v3, C order, 1-D or 2-D, little-endian f4 f8 i1 u1 i2
 *   u2 i4 u4 i8 u8.
 */
#ifndef RVF_CLI_INPUT_H
#define RVF_CLI_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "rvf/meta.h"

enum input_fmt { IN_FVECS, IN_BVECS, IN_NPY, IN_IDX, IN_CSV, IN_JSONL };

/* "fvecs" ... -> 0, else -EINVAL. */
int input_fmt_parse(const char *name, enum input_fmt *out);
/* From the file name (a .gz suffix is looked through); -EINVAL if unknown. */
int input_fmt_guess(const char *path, enum input_fmt *out);
const char *input_fmt_name(enum input_fmt f);

struct input_bad {
	uint64_t pos;          /* line (text) */
	char *why;             /* owned */
};

struct input_batch {
	size_t n;              /* rows */
	float *vals;           /* all rows' values back to back */
	size_t *off;           /* row i starts at vals + off[i] */
	uint32_t *dim;
	uint64_t *id;
	uint64_t *pos;
	struct rvf_meta_entry **meta;   /* owned per row (NULL when none) */
	uint32_t *n_meta;
	size_t n_bad;
	struct input_bad *bad;
	/* capacity, private */
	size_t cap, vals_cap, bad_cap;
};
void input_batch_release(struct input_batch *b);

struct input;
/* Report errors with cli_err; return 0 or -errno. */
int input_open(const char *path, enum input_fmt fmt, uint64_t ids_from, struct input **out);
/* Rows the file declares (idx, npy, fvecs/bvecs by size when plain), 0 if unknown. */
size_t input_rows_hint(const struct input *in);
/* Width known up front (binary formats), 0 for text. */
uint32_t input_dim(const struct input *in);
/* Clear b and read up to max rows (good or bad) into it. Returns the rows read
 * (good + bad, 0 at the end) or -errno after a message. */
long input_next(struct input *in, struct input_batch *b, size_t max);
void input_close(struct input *in);

#endif
