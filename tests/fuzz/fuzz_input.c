/*
 * fuzz_input - arbitrary bytes as every vector file the CLI reads: fvecs,
 * bvecs, npy, idx, csv and jsonl through tools/rvf/input.c (as `rvf ingest`
 * and `rvf query --queries` read them; gzip is looked through, so a seed
 * that starts with 1f 8b fuzzes the compressed path), ivecs ground truth
 * through data_load_ivecs (`rvf query --gt`), and data_load's whole-file
 * fvecs / bvecs / idx loads (benchmarks, tests).
 *
 * Input: byte 0 picks the reader (mod 8, below), byte 1 the batch size or
 * row limit, the rest is the file. Beyond no crash, every batch must keep
 * input.h's promises: the return value counts its good and bad rows, rows
 * lie back to back, binary formats have the declared width and text rows
 * 1..65535 values, and a read that ends cleanly delivered exactly the rows
 * the header (or the file size) declared.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/rvf/cli.h"
#include "../../tools/rvf/input.h"
#include "data/data.h"
#include "fuzz_util.h"
#include "rvf/error.h"

/* The CLI's error plumbing (tools/rvf/main.c) for input.c: messages are
 * formatted, so their arguments are exercised, but not printed. */
static char lib_err[512];

static void capture(void *ctx, enum rvf_log_level l, const char *msg)
{
	(void)ctx;
	if (l == RVF_LOG_ERROR)
		snprintf(lib_err, sizeof(lib_err), "%s", msg);
}

void cli_clear_lib_err(void)
{
	lib_err[0] = '\0';
}

const char *cli_lib_detail(void)
{
	return lib_err;
}

void cli_err(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}

#define IDS_FROM 1000

static void check_batch(const struct input *in, enum input_fmt fmt, const struct input_batch *b, long r,
			size_t max)
{
	bool binary = fmt == IN_FVECS || fmt == IN_BVECS || fmt == IN_IDX || fmt == IN_NPY;
	size_t off = 0;
	volatile float sink = 0;

	if ((size_t)r != b->n + b->n_bad || (size_t)r > max)
		abort();
	if (binary && b->n_bad)
		abort();
	for (size_t i = 0; i < b->n; i++) {
		if (b->off[i] != off || b->dim[i] == 0 || b->dim[i] > 65535)
			abort();
		if (binary && b->dim[i] != input_dim(in))
			abort();
		for (uint32_t j = 0; j < b->dim[i]; j++)
			sink += b->vals[off + j];
		off += b->dim[i];
		if (b->n_meta[i] && !b->meta[i])
			abort();
	}
	for (size_t i = 0; i < b->n_bad; i++)
		if (!b->bad[i].why || !b->bad[i].why[0])
			abort();
	(void)sink;
}

static void read_input(const char *path, enum input_fmt fmt, size_t max)
{
	struct input *in = NULL;
	struct input_batch b;
	size_t good = 0, hint;
	long r;

	memset(&b, 0, sizeof(b));
	if (input_open(path, fmt, IDS_FROM, &in))
		return;
	hint = input_rows_hint(in);
	while ((r = input_next(in, &b, max)) > 0) {
		check_batch(in, fmt, &b, r, max);
		good += b.n;
	}
	/* A clean end must have delivered what the file declared. */
	if (r == 0 && hint && fmt != IN_CSV && fmt != IN_JSONL && good != hint)
		abort();
	input_batch_release(&b);
	input_close(in);
}

static void load_whole(const char *path, uint8_t how, size_t max_n)
{
	static const enum data_format fmts[] = { DATA_FMT_FVECS, DATA_FMT_BVECS, DATA_FMT_IDX };
	struct data_mat m = { 0 };
	volatile float sink = 0;

	if (data_load(path, fmts[how % 3], max_n, &m))
		return;
	if (!m.dim || (max_n && m.n > max_n))
		abort();
	for (size_t i = 0; i < m.n * m.dim; i++)
		sink += m.v[i];
	(void)sink;
	data_mat_release(&m);
}

static void load_ivecs(const char *path, size_t max_n)
{
	struct data_imat m = { 0 };
	volatile int32_t sink = 0;

	if (data_load_ivecs(path, max_n, &m))
		return;
	if (!m.dim || (max_n && m.n > max_n))
		abort();
	for (size_t i = 0; i < m.n * m.dim; i++)
		sink += m.v[i];
	(void)sink;
	data_imat_release(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char path[256];
	uint8_t pick, arg;

	if (len < 2)
		return 0;
	rvf_set_log(capture, NULL, RVF_LOG_ERROR);
	if (!path[0])
		fuzz_path(path, sizeof(path), "input");
	pick = data[0] % 8;
	arg = data[1];
	fuzz_write(path, data + 2, len - 2);
	switch (pick) {
	case IN_FVECS: case IN_BVECS: case IN_NPY: case IN_IDX: case IN_CSV: case IN_JSONL:
		read_input(path, (enum input_fmt)pick, 1 + arg % 64);
		break;
	case 6:
		load_ivecs(path, arg % 8);
		break;
	default:
		load_whole(path, arg, arg / 3 % 8);
		break;
	}
	return 0;
}
