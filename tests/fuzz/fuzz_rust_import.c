/*
 * fuzz_rust_import - arbitrary bytes as a file written by the Rust RVF
 * runtime, through the whole `rvf import` path (rvf_store_import_rust:
 * rust_rvf_read, then a native store with the vectors, carried segments,
 * identity and a graph checkpoint), then a read-only reopen of the result.
 *
 * The seeds are the Rust-written reference files (tests/fixtures). Beyond
 * no crash: the import must agree with rust_rvf_parse on the same bytes (a
 * file the parser refuses is never imported; an imported store holds exactly
 * the parser's live ids with their vectors bit for bit), the new store must
 * pass rvf_store_verify, and reopening it must show the same live count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/rust_import.h"
#include "fuzz_util.h"
#include "rvf/rvf.h"

/* The store must hold exactly r's live vectors, bit for bit. */
static void same_vectors(const struct rvf_store *s, const struct rust_rvf *r)
{
	struct rvf_store_status st;
	float *v = malloc(sizeof(float) * (r->dim ? r->dim : 1));

	if (!v)
		abort();
	if (rvf_store_status(s, &st) || st.live_vectors != r->n_live || rvf_store_dimension(s) != r->dim)
		abort();
	for (size_t i = 0; i < r->n_live; i++) {
		if (rvf_store_get_vector(s, r->ids[i], v, r->dim) ||
		    memcmp(v, r->vectors + i * r->dim, sizeof(float) * r->dim))
			abort();
	}
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char src[256], dst[256];
	struct rvf_store_opts o = { .threads = 1 };
	struct rvf_store *s = NULL, *ro = NULL;
	struct rust_rvf *r = NULL;
	int prc, irc;

	rvf_set_log(fuzz_quiet, NULL, RVF_LOG_ERROR);
	if (!src[0]) {
		fuzz_path(src, sizeof(src), "rust-src");
		fuzz_path(dst, sizeof(dst), "rust-dst");
	}
	fuzz_write(src, data, len);
	unlink(dst);
	prc = rust_rvf_parse(data, len, "fuzz", &r);
	irc = rvf_store_import_rust(src, dst, &o, &s);
	if (prc && !irc)
		abort();
	if (!irc) {
		struct rvf_result res[4];
		float *q = calloc(r->dim ? r->dim : 1, sizeof(float));

		if (!q)
			abort();
		same_vectors(s, r);
		if (rvf_store_verify(s))
			abort();
		/* an import took every vector, so the first is finite */
		if (r->n_live && r->dim)
			memcpy(q, r->vectors, sizeof(float) * r->dim);
		if (r->dim && rvf_store_query(s, q, r->dim, 4, NULL, res) < 0)
			abort();
		free(q);
		if (rvf_store_close(s))
			abort();
		if (rvf_store_open_readonly(dst, NULL, &ro))
			abort();
		same_vectors(ro, r);
		rvf_store_close(ro);
	}
	rust_rvf_free(r);
	unlink(dst);
	return 0;
}
