/*
 * test_import.c - the reader for files written by the Rust RVF runtime
 * (user/format/rust_import.c): every reference fixture must read back
 * exactly as its README says, synthetic files exercise deletions, overrides
 * and carried segments, and hostile input (truncation, byte flips, garbage,
 * crafted manifests) must fail cleanly without tripping ASan/UBSan.
 *
 * Fixtures: $RVF_FIXTURES, else tests/fixtures/rvf-reference (copies of
 * the work area's reference files; tu_fixture_dir).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "common/log.h"
#include "format/ebpf.h"
#include "format/hash.h"
#include "format/kernel.h"
#include "format/rust_import.h"
#include "rvf/format.h"
#include "rvf/payload.h"

/* ---- fixtures ------------------------------------------------------------- */

struct fixture {
	const char *file;
	uint16_t dim;
	size_t live;
	uint64_t first_id;
	size_t deleted;
	size_t manifests;
	uint8_t carried_type;           /* 0 = none */
	const char *live_sha16;         /* README's live_sha256 */
};

/* Straight from ../shared/fixtures/rvf-reference/README.md. */
static const struct fixture fixtures[] = {
	{ "basic_store.rvf",       384, 100,   0, 0, 2, 0,              "a1ccee43808a9b9b" },
	{ "access_control.rvf",    128, 150,   0, 0, 2, 0,              "a115efcd718083b4" },
	{ "compacted.rvf",         128, 150,  50, 0, 1, 0,              "20d3d313d732aeca" },
	{ "filtered_search.rvf",   128, 500,   0, 0, 2, 0,              "a8dc9479f30a993a" },
	{ "ebpf_accelerator.rvf",  384, 100,   0, 0, 3, RVF_SEG_EBPF,   "a1ccee43808a9b9b" },
	{ "linux_microkernel.rvf",  64,  20,   0, 0, 3, RVF_SEG_KERNEL, "42cabddec3d6a927" },
	{ "lineage_parent.rvf",    128, 100,   0, 0, 2, 0,              "596dc29f0ae05640" },
	{ "lineage_child.rvf",     128,  50, 200, 0, 2, 0,              "6a111d51e3352b47" },
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))
static const char parent_file_id[] = "183dabe5dce50c9a4ee02b2db6313cb9";

static char *fixture_dir;

static void find_fixtures(void)
{
	fixture_dir = tu_fixture_dir();
	if (!fixture_dir)
		tu_skip("reference fixtures not found (tests/fixtures/rvf-reference; or set RVF_FIXTURES)");
}

static uint8_t *load_fixture(const struct fixture *fx, size_t *len)
{
	char *p = tu_path(fixture_dir, fx->file);
	uint8_t *b = tu_slurp(p, len);

	free(p);
	return b;
}

static void digest16(const struct rust_rvf *r, char out[17])
{
	uint8_t d[32];

	assert_int_equal(rust_rvf_live_digest(r, d), 0);
	hex_encode(d, 8, out);
}

/* Everything the README says about one fixture, plus internal consistency. */
static void check_fixture(const struct fixture *fx, const struct rust_rvf *r)
{
	char hex[33], d16[17];
	size_t i;

	assert_int_equal(r->dim, fx->dim);
	assert_int_equal(r->n_live, fx->live);
	assert_int_equal(r->n_deleted, fx->deleted);
	assert_true(r->n_live > 0);
	assert_int_equal(r->ids[0], fx->first_id);
	for (i = 1; i < r->n_live; i++)
		assert_true(r->ids[i - 1] < r->ids[i]);
	digest16(r, d16);
	if (strcmp(d16, fx->live_sha16))
		fail_msg("%s: live_sha256 %s, README says %s", fx->file, d16, fx->live_sha16);
	/* segments: one VEC, the manifests, and the carried one */
	assert_int_equal(r->n_segments, 1 + fx->manifests + (fx->carried_type ? 1 : 0));
	assert_int_equal(r->n_carried, fx->carried_type ? 1 : 0);
	if (fx->carried_type)
		assert_int_equal(r->carried[0].type, fx->carried_type);
	assert_int_equal(r->manifest_total, fx->live);

	assert_true(r->has_identity);
	hex_encode(r->identity.file_id, 16, hex);
	if (!strcmp(fx->file, "lineage_parent.rvf"))
		assert_string_equal(hex, parent_file_id);
	if (!strcmp(fx->file, "lineage_child.rvf")) {
		assert_int_equal(r->identity.lineage_depth, 1);
		hex_encode(r->identity.parent_id, 16, hex);
		assert_string_equal(hex, parent_file_id);
	} else {
		uint8_t zero[32] = { 0 };

		assert_int_equal(r->identity.lineage_depth, 0);
		assert_memory_equal(r->identity.parent_id, zero, 16);
		assert_memory_equal(r->identity.parent_hash, zero, 32);
	}
}

static void fixtures_match_readme(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_FIXTURES; i++) {
		struct rust_rvf *r = NULL;
		char *p = tu_path(fixture_dir, fixtures[i].file);
		int err = rust_rvf_read(p, &r);

		if (err)
			fail_msg("%s: %d (%s)", fixtures[i].file, err, rvf_last_error());
		check_fixture(&fixtures[i], r);
		rust_rvf_free(r);
		free(p);
	}
}

static void buffer_parse_equals_file_read(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_FIXTURES; i++) {
		struct rust_rvf *a = NULL, *b = NULL;
		char *p = tu_path(fixture_dir, fixtures[i].file);
		size_t len;
		uint8_t *buf = load_fixture(&fixtures[i], &len);

		assert_int_equal(rust_rvf_read(p, &a), 0);
		assert_int_equal(rust_rvf_parse(buf, len, fixtures[i].file, &b), 0);
		free(buf);      /* nothing in b may point into it */
		assert_int_equal(a->n_live, b->n_live);
		assert_memory_equal(a->ids, b->ids, a->n_live * sizeof(uint64_t));
		assert_memory_equal(a->vectors, b->vectors, a->n_live * a->dim * sizeof(float));
		assert_memory_equal(&a->identity, &b->identity, sizeof(a->identity));
		assert_int_equal(a->n_carried, b->n_carried);
		if (a->n_carried)
			assert_memory_equal(a->carried[0].raw, b->carried[0].raw, a->carried[0].raw_len);
		rust_rvf_free(a);
		rust_rvf_free(b);
		free(p);
	}
}

static void lineage_child_names_parent(void **state)
{
	struct rust_rvf *parent = NULL, *child = NULL;
	char *pp = tu_path(fixture_dir, "lineage_parent.rvf");
	char *cp = tu_path(fixture_dir, "lineage_child.rvf");

	(void)state;
	assert_int_equal(rust_rvf_read(pp, &parent), 0);
	assert_int_equal(rust_rvf_read(cp, &child), 0);
	assert_memory_equal(child->identity.parent_id, parent->identity.file_id, 16);
	assert_int_equal(child->identity.lineage_depth, parent->identity.lineage_depth + 1);
	assert_memory_not_equal(child->identity.file_id, parent->identity.file_id, 16);
	rust_rvf_free(parent);
	rust_rvf_free(child);
	free(pp);
	free(cp);
}

/* The runtime's content hash: every segment header of every fixture matches
 * rust_content_hash of its payload, so the reader really checks it. */
static void runtime_content_hash_matches_every_fixture_segment(void **state)
{
	size_t i, checked = 0;

	(void)state;
	for (i = 0; i < N_FIXTURES; i++) {
		size_t len, off = 0;
		uint8_t *b = load_fixture(&fixtures[i], &len);

		while (off + RVF_SEG_HEADER_SIZE <= len) {
			struct rvf_seg_hdr h;
			uint8_t d[16];

			memcpy(&h, b + off, sizeof(h));
			assert_int_equal(h.magic, RVF_SEG_MAGIC);
			assert_true(h.payload_length <= len - off - RVF_SEG_HEADER_SIZE);
			rust_content_hash(b + off + RVF_SEG_HEADER_SIZE, h.payload_length, d);
			assert_memory_equal(d, h.content_hash, 16);
			checked++;
			off += RVF_SEG_HEADER_SIZE + h.payload_length;
		}
		assert_int_equal(off, len);
		free(b);
	}
	assert_int_equal(checked, 3 + 3 + 2 + 3 + 5 + 5 + 3 + 3);
}

static void carried_segments_are_byte_identical(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_FIXTURES; i++) {
		const struct fixture *fx = &fixtures[i];
		struct rust_rvf *r = NULL;
		const struct rust_rvf_seg *c;
		size_t len;
		uint8_t *b;

		if (!fx->carried_type)
			continue;
		b = load_fixture(fx, &len);
		assert_int_equal(rust_rvf_parse(b, len, fx->file, &r), 0);
		c = &r->carried[0];
		assert_true(c->offset + c->raw_len <= len);
		assert_memory_equal(c->raw, b + c->offset, c->raw_len);
		assert_ptr_equal(c->payload, c->raw + RVF_SEG_HEADER_SIZE);
		assert_int_equal(c->payload_len, c->hdr.payload_length);
		assert_int_equal(c->raw_len, RVF_SEG_HEADER_SIZE + c->payload_len);
		assert_memory_equal(&c->hdr, b + c->offset, RVF_SEG_HEADER_SIZE);

		if (c->type == RVF_SEG_KERNEL) {
			struct kernel_view kv;

			/* RVF writes cmdline_offset 128 while the cmdline follows the
			 * image: only the RVF-compatible parse accepts that ... */
			assert_int_equal(kernel_payload_parse(c->payload, c->payload_len, 0, &kv),
					 -EUCLEAN);
			/* ... and the RVF-compatible parse accepts the layout. */
			assert_int_equal(kernel_payload_parse(c->payload, c->payload_len,
							      KERNEL_PARSE_RUST, &kv), 0);
			assert_false(kv.has_binding);
			assert_int_equal(kv.image_len, c->payload_len - RVF_KERNEL_HDR_SIZE);
			assert_ptr_equal(kv.image, c->payload + RVF_KERNEL_HDR_SIZE);
			assert_int_equal(kv.cmdline_len, 0);
			/* api_port is big-endian on disk: bytes 00 16 = port 22 */
			assert_int_equal(c->payload[0x2A], 0x00);
			assert_int_equal(c->payload[0x2B], 0x16);
			assert_int_equal(kv.api_port, 22);
		} else {
			struct ebpf_view ev;

			assert_int_equal(ebpf_payload_parse(c->payload, c->payload_len, 0, &ev),
					 -EBADMSG);
			assert_int_equal(ebpf_payload_parse(c->payload, c->payload_len,
							    EBPF_PARSE_RUST, &ev), 0);
			assert_int_equal(ev.hdr.max_dimension, fx->dim);
			assert_int_equal(RVF_EBPF_HDR_SIZE + ev.prog_len + ev.btf_len, c->payload_len);
			/* RVF's insn_count is program bytes / 8 (ruvector-rvf 2.11) */
			assert_int_equal(ev.hdr.insn_count, ev.prog_len / 8);
		}
		rust_rvf_free(r);
		free(b);
	}
}

/* ---- hostile fixtures ---------------------------------------------------- */

/* Offsets of every segment header in a fixture. */
static size_t seg_offsets(const uint8_t *b, size_t len, size_t *offs, size_t max)
{
	size_t n = 0, off = 0;

	while (off + RVF_SEG_HEADER_SIZE <= len && n < max) {
		uint64_t plen;

		memcpy(&plen, b + off + 0x10, 8);
		offs[n++] = off;
		off += RVF_SEG_HEADER_SIZE + plen;
	}
	return n;
}

static bool is_boundary(const size_t *offs, size_t n, size_t at)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (offs[i] == at)
			return true;
	return false;
}

static void truncated_fixtures_fail(void **state)
{
	struct tu_rng rng;
	size_t i, k;

	(void)state;
	tu_rng_init(&rng, tu_seed());
	for (i = 0; i < N_FIXTURES; i++) {
		size_t len, offs[16], nseg, cuts = 0;
		uint8_t *b = load_fixture(&fixtures[i], &len);

		nseg = seg_offsets(b, len, offs, 16);
		for (k = 0; k < 600; k++) {
			struct rust_rvf *r = NULL;
			size_t cut;
			uint8_t *t;
			int err;

			if (k < 130)
				cut = k;                                /* 0..129 */
			else if (k < 130 + 6 * nseg) {                  /* around headers */
				static const long d[6] = { -1, 1, 63, 64, 65, 70 };
				long c = (long)offs[(k - 130) / 6] + d[(k - 130) % 6];

				if (c < 0 || (size_t)c >= len)
					continue;
				cut = (size_t)c;
			} else if (k < 140 + 6 * nseg)
				cut = len - 1 - (k - 130 - 6 * nseg);   /* the last bytes */
			else
				cut = tu_rng_below(&rng, len);
			/* a copy of exactly cut bytes, so ASan sees any over-read */
			t = malloc(cut ? cut : 1);
			assert_non_null(t);
			memcpy(t, b, cut);
			err = rust_rvf_parse(t, cut, fixtures[i].file, &r);
			if (err >= 0 && is_boundary(offs, nseg, cut)) {
				/* cut exactly between segments: a valid earlier file,
				 * whose live manifest must be an earlier one */
				assert_true(r->manifest_offset < offs[nseg - 1]);
				assert_true(r->n_live <= fixtures[i].live);
				rust_rvf_free(r);
				free(t);
				continue;
			}
			if (err >= 0)
				fail_msg("%s truncated to %zu bytes parsed", fixtures[i].file, cut);
			assert_null(r);
			free(t);
			cuts++;
		}
		assert_true(cuts > 500);
		free(b);
	}
}

static void truncated_file_on_disk_fails(void **state)
{
	char *dir = tu_tmpdir(), *p = tu_path(dir, "t.rvf");
	size_t len, cuts[] = { 1, 63, 64, 100, 161, 163, 5000 };
	uint8_t *b = load_fixture(&fixtures[5], &len);
	size_t i;

	(void)state;
	/* 162 is where the second segment starts: that cut is a valid file
	 * holding only the empty manifest create() wrote */
	{
		struct rust_rvf *r = NULL;
		FILE *f = fopen(p, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, 162, f), 162);
		fclose(f);
		assert_int_equal(rust_rvf_read(p, &r), 0);
		assert_int_equal(r->n_live, 0);
		assert_int_equal(r->epoch, 0);
		rust_rvf_free(r);
	}
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct rust_rvf *r = NULL;
		FILE *f = fopen(p, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, cuts[i], f), cuts[i]);
		fclose(f);
		assert_true(rust_rvf_read(p, &r) < 0);
		assert_null(r);
		assert_non_null(strstr(rvf_last_error(), p));
	}
	/* a file shortened by its last byte */
	{
		struct rust_rvf *r = NULL;
		FILE *f = fopen(p, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, len - 1, f), len - 1);
		fclose(f);
		assert_int_equal(rust_rvf_read(p, &r), -EUCLEAN);
	}
	free(b);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Which header bytes the reader ignores: timestamp_ns, flags bits other than
 * COMPRESSED/ENCRYPTED, and the live manifest's own segment_id. A flip there
 * may parse, and must then give exactly the unflipped result. */
static void flipped_fixture_bytes_fail_or_change_nothing(void **state)
{
	struct tu_rng rng;
	size_t i, k;

	(void)state;
	tu_rng_init(&rng, tu_seed() ^ 0xf11b);
	for (i = 0; i < N_FIXTURES; i++) {
		const struct fixture *fx = &fixtures[i];
		size_t len, offs[16], nseg, s, flips, tried = 0, passed = 0;
		uint8_t *b = load_fixture(fx, &len);
		char want[17];
		struct rust_rvf *good = NULL;

		assert_int_equal(rust_rvf_parse(b, len, fx->file, &good), 0);
		digest16(good, want);
		nseg = seg_offsets(b, len, offs, 16);
		/* the small kernel fixture is flipped at every byte; others sampled,
		 * always including every header byte */
		flips = len <= 20000 ? len : 3000 + nseg * RVF_SEG_HEADER_SIZE;
		for (k = 0; k < flips; k++) {
			struct rust_rvf *r = NULL;
			size_t at, in_seg = 0;
			uint8_t x = (uint8_t)(1 + tu_rng_below(&rng, 255));
			bool in_hdr;
			int err;

			if (len <= 20000)
				at = k;
			else if (k < nseg * RVF_SEG_HEADER_SIZE)
				at = offs[k / RVF_SEG_HEADER_SIZE] + k % RVF_SEG_HEADER_SIZE;
			else
				at = tu_rng_below(&rng, len);
			for (s = 0; s < nseg; s++)
				if (offs[s] <= at)
					in_seg = s;
			in_hdr = at - offs[in_seg] < RVF_SEG_HEADER_SIZE;
			b[at] ^= x;
			err = rust_rvf_parse(b, len, fx->file, &r);
			b[at] ^= x;
			tried++;
			if (!in_hdr) {
				/* every payload byte of every fixture segment is hashed */
				if (err != -EBADMSG)
					fail_msg("%s: flip at %zu (payload) gave %d", fx->file, at, err);
				continue;
			}
			if (err < 0) {
				assert_null(r);
				continue;
			}
			if (in_seg == nseg - 1 && at - offs[in_seg] == 0x05) {
				/* the live manifest's type byte now says e.g. KERNEL: the
				 * file reads as a crash after the previous commit */
				assert_true(r->epoch < good->epoch);
				rust_rvf_free(r);
				continue;
			}
			{
				char got[17];
				size_t field = at - offs[in_seg];

				passed++;
				digest16(r, got);
				assert_string_equal(got, want);
				assert_int_equal(r->n_live, good->n_live);
				assert_memory_equal(&r->identity, &good->identity, sizeof(r->identity));
				if (!((field >= 0x18 && field < 0x20) || field == 0x06 || field == 0x07 ||
				      field >= 0x3C ||
				      (in_seg == nseg - 1 && field >= 0x08 && field < 0x10)))
					fail_msg("%s: flip at %zu (header field 0x%zx) parsed",
						 fx->file, at, field);
				rust_rvf_free(r);
			}
		}
		assert_true(tried >= 3000 || tried == len);
		assert_true(passed > 0);        /* timestamps are ignored, so some pass */
		rust_rvf_free(good);
		free(b);
	}
}

static void empty_garbage_and_directories_fail(void **state)
{
	char *dir = tu_tmpdir(), *p = tu_path(dir, "x.rvf");
	struct rust_rvf *r = NULL;
	struct tu_rng rng;
	uint8_t *g;
	size_t k;
	FILE *f;

	(void)state;
	tu_rng_init(&rng, tu_seed() ^ 0x9a4b);
	f = fopen(p, "wb");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(rust_rvf_read(p, &r), -ENOEXEC);
	assert_non_null(strstr(rvf_last_error(), "empty"));
	assert_int_equal(rust_rvf_parse(NULL, 0, "empty", &r), -ENOEXEC);
	assert_int_equal(rust_rvf_read(dir, &r), -EISDIR);
	assert_int_equal(rust_rvf_read("/nonexistent/x.rvf", &r), -ENOENT);
	assert_int_equal(rust_rvf_read("/dev/null", &r), -EINVAL);
	assert_int_equal(rust_rvf_parse(NULL, 5, "x", &r), -EINVAL);
	assert_null(r);

	g = malloc(70000);
	assert_non_null(g);
	for (k = 0; k < 400; k++) {
		size_t n = 1 + tu_rng_below(&rng, k < 200 ? 200 : 70000);
		int err;

		tu_rng_fill(&rng, g, n);
		if (k & 1) {            /* a plausible first header over garbage */
			uint32_t m = RVF_SEG_MAGIC;

			if (n >= 6) {
				memcpy(g, &m, 4);
				g[4] = 1;
				g[5] = (uint8_t)(k % 3 ? RVF_SEG_MANIFEST : RVF_SEG_VEC);
			}
		}
		err = rust_rvf_parse(g, n, "garbage", &r);
		if (err >= 0)
			fail_msg("%zu bytes of garbage parsed", n);
		assert_null(r);
	}
	free(g);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* ---- synthetic files: a writer for the runtime format ------------------- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct wbuf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put8(struct wbuf *b, uint8_t v) { put(b, &v, 1); }
static void put16(struct wbuf *b, uint16_t v) { put(b, &v, 2); }
static void put32(struct wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put64(struct wbuf *b, uint64_t v) { put(b, &v, 8); }

struct dent {
	uint64_t id, off, len;
	uint8_t type;
};

/* Append a segment; returns its directory entry. */
static struct dent seg(struct wbuf *b, uint8_t type, uint64_t id, const void *pl, size_t n,
		       bool hashed)
{
	struct rvf_seg_hdr h;
	struct dent d = { id, b->len, n, type };

	memset(&h, 0, sizeof(h));
	h.magic = RVF_SEG_MAGIC;
	h.version = RVF_SEG_VERSION;
	h.seg_type = type;
	h.segment_id = id;
	h.payload_length = n;
	if (hashed)
		rust_content_hash(pl, n, h.content_hash);
	put(b, &h, sizeof(h));
	put(b, pl, n);
	return d;
}

/* VEC payload: rows of dim floats, row r's value j = base + r + j / 1000. */
static void vec_payload(struct wbuf *p, uint16_t dim, const uint64_t *ids, size_t n, float base)
{
	size_t r, j;

	put16(p, dim);
	put32(p, (uint32_t)n);
	for (r = 0; r < n; r++) {
		put64(p, ids[r]);
		for (j = 0; j < dim; j++) {
			float v = base + (float)r + (float)j / 1000.0f;

			put(p, &v, 4);
		}
	}
}

static void manifest_payload(struct wbuf *p, uint32_t epoch, uint16_t dim, uint64_t total,
			     const struct dent *d, size_t nd, const uint64_t *del, size_t ndel,
			     const struct rvf_file_identity *fid)
{
	size_t i;

	put32(p, epoch);
	put16(p, dim);
	put64(p, total);
	put32(p, (uint32_t)nd);
	put8(p, 0);
	put8(p, 0); put8(p, 0); put8(p, 0);
	for (i = 0; i < nd; i++) {
		put64(p, d[i].id);
		put64(p, d[i].off);
		put64(p, d[i].len);
		put8(p, d[i].type);
	}
	put32(p, (uint32_t)ndel);
	for (i = 0; i < ndel; i++)
		put64(p, del[i]);
	if (fid) {
		put32(p, 0x46494449u);
		put(p, fid, sizeof(*fid));
	}
}

/* A store: create-manifest, VEC {1,2,3,4}, VEC {3,5} (overrides 3), JOURNAL,
 * WITNESS, an unknown 0xF3 segment, then the live manifest deleting {2, 9},
 * then an uncommitted VEC {7}. hashed selects zero or real content hashes. */
static struct wbuf build_store(bool hashed, struct dent *dirs, size_t *ndirs)
{
	struct wbuf b = { 0 }, p = { 0 };
	static const uint64_t ids1[] = { 4, 1, 2, 3 }, ids2[] = { 5, 3 }, ids3[] = { 7 };
	static const uint64_t del[] = { 9, 2, 2 };
	static const uint8_t unknown[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
	struct rvf_file_identity fid;
	size_t n = 0;

	memset(&fid, 0, sizeof(fid));
	memset(fid.file_id, 0xab, 16);

	manifest_payload(&p, 0, 3, 0, NULL, 0, NULL, 0, &fid);
	dirs[n++] = seg(&b, RVF_SEG_MANIFEST, 1, p.p, p.len, hashed);
	p.len = 0;
	vec_payload(&p, 3, ids1, 4, 10.0f);
	dirs[n++] = seg(&b, RVF_SEG_VEC, 2, p.p, p.len, hashed);
	p.len = 0;
	vec_payload(&p, 3, ids2, 2, 100.0f);
	dirs[n++] = seg(&b, RVF_SEG_VEC, 3, p.p, p.len, hashed);
	p.len = 0;
	put32(&p, 1); put32(&p, 2); put64(&p, 0);
	put8(&p, 1); put8(&p, 0); put16(&p, 8); put64(&p, 2);
	dirs[n++] = seg(&b, RVF_SEG_JOURNAL, 4, p.p, p.len, hashed);
	p.len = 0;
	put8(&p, 1); put64(&p, 0); put32(&p, 3); put(&p, "x=1", 3);
	for (int i = 0; i < 32; i++)
		put8(&p, 0);
	dirs[n++] = seg(&b, RVF_SEG_WITNESS, 5, p.p, p.len, hashed);
	dirs[n++] = seg(&b, 0xF3, 6, unknown, sizeof(unknown), hashed);
	p.len = 0;
	manifest_payload(&p, 2, 3, 4, dirs, n, del, 3, &fid);
	seg(&b, RVF_SEG_MANIFEST, 7, p.p, p.len, hashed);
	p.len = 0;
	vec_payload(&p, 3, ids3, 1, 1000.0f);
	seg(&b, RVF_SEG_VEC, 8, p.p, p.len, hashed);
	free(p.p);
	*ndirs = n;
	return b;
}

static void synthetic_store_resolves_overrides_deletions_and_carries(void **state)
{
	int hashed;

	(void)state;
	for (hashed = 0; hashed < 2; hashed++) {
		struct dent dirs[8];
		size_t nd;
		struct wbuf b = build_store(hashed, dirs, &nd);
		struct rust_rvf *r = NULL;
		static const uint64_t want_ids[] = { 1, 3, 4, 5 };
		/* id -> (base, row): 1 (10, 1), 3 (100, 1), 4 (10, 0), 5 (100, 0) */
		static const float want_first[] = { 11.0f, 101.0f, 10.0f, 100.0f };
		size_t i;

		assert_int_equal(rust_rvf_parse(b.p, b.len, "synthetic", &r), 0);
		assert_int_equal(r->dim, 3);
		assert_int_equal(r->epoch, 2);
		assert_int_equal(r->n_segments, 8);
		assert_int_equal(r->n_live, 4);
		assert_memory_equal(r->ids, want_ids, sizeof(want_ids));
		for (i = 0; i < 4; i++) {
			assert_true(r->vectors[i * 3] == want_first[i]);
			assert_true(r->vectors[i * 3 + 2] == want_first[i] + 0.002f);
		}
		assert_int_equal(r->n_deleted, 2);
		assert_int_equal(r->deleted[0], 2);
		assert_int_equal(r->deleted[1], 9);
		assert_true(r->has_identity);
		assert_int_equal(r->identity.file_id[0], 0xab);
		/* only the unknown segment is carried (not VEC/JOURNAL/WITNESS/MANIFEST) */
		assert_int_equal(r->n_carried, 1);
		assert_int_equal(r->carried[0].type, 0xF3);
		assert_int_equal(r->carried[0].segment_id, 6);
		assert_int_equal(r->carried[0].offset, dirs[5].off);
		assert_memory_equal(r->carried[0].raw, b.p + dirs[5].off, 64 + 5);
		rust_rvf_free(r);
		free(b.p);
	}
}

static void live_digest_is_sha256_of_id_and_values(void **state)
{
	struct dent dirs[8];
	size_t nd, i;
	struct wbuf b = build_store(true, dirs, &nd), m = { 0 };
	struct rust_rvf *r = NULL;
	uint8_t want[32], got[32];

	(void)state;
	assert_int_equal(rust_rvf_parse(b.p, b.len, "synthetic", &r), 0);
	for (i = 0; i < r->n_live; i++) {
		put64(&m, r->ids[i]);
		put(&m, r->vectors + i * r->dim, r->dim * sizeof(float));
	}
	assert_int_equal(sha256(m.p, m.len, want), 0);
	assert_int_equal(rust_rvf_live_digest(r, got), 0);
	assert_memory_equal(got, want, 32);
	rust_rvf_free(r);
	free(m.p);
	free(b.p);
}

/* Rebuild the live manifest of build_store with a mutator applied to its
 * payload (hash recomputed, so the structure checks are what is tested). */
typedef void (*mutate_fn)(struct wbuf *payload, struct dent *dirs, size_t nd);

static int parse_with_manifest(mutate_fn fn, bool add_fidi)
{
	struct wbuf b = { 0 }, p = { 0 };
	static const uint64_t ids[] = { 1, 2 };
	struct rvf_file_identity fid;
	struct dent d[2];
	struct rust_rvf *r = NULL;
	int err;

	memset(&fid, 0, sizeof(fid));
	fid.file_id[3] = 7;
	manifest_payload(&p, 0, 4, 0, NULL, 0, NULL, 0, NULL);
	d[0] = seg(&b, RVF_SEG_MANIFEST, 1, p.p, p.len, true);
	p.len = 0;
	vec_payload(&p, 4, ids, 2, 1.0f);
	d[1] = seg(&b, RVF_SEG_VEC, 2, p.p, p.len, true);
	p.len = 0;
	manifest_payload(&p, 1, 4, 2, d, 2, NULL, 0, add_fidi ? &fid : NULL);
	if (fn)
		fn(&p, d, 2);
	seg(&b, RVF_SEG_MANIFEST, 3, p.p, p.len, true);
	err = rust_rvf_parse(b.p, b.len, "crafted", &r);
	if (!err) {
		assert_non_null(r);
		assert_int_equal(r->n_live, 2);
	} else {
		assert_null(r);
	}
	rust_rvf_free(r);
	free(p.p);
	free(b.p);
	return err;
}

static void m_seg_count_huge(struct wbuf *p, struct dent *d, size_t n)
{
	uint32_t v = 0xFFFFFFFFu;
	(void)d; (void)n;
	memcpy(p->p + 14, &v, 4);
}
static void m_dim_zero(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	memset(p->p + 4, 0, 2);
}
static void m_dim_other(struct wbuf *p, struct dent *d, size_t n)
{
	uint16_t v = 5;
	(void)d; (void)n;
	memcpy(p->p + 4, &v, 2);
}
static void m_reserved(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	p->p[20] = 1;
}
static void m_del_count_huge(struct wbuf *p, struct dent *d, size_t n)
{
	uint32_t v = 0x10000000u;
	(void)d; (void)n;
	memcpy(p->p + 22 + 2 * 25, &v, 4);
}
static void m_entry_mid_segment(struct wbuf *p, struct dent *d, size_t n)
{
	uint64_t off = d[1].off + 10;
	(void)n;
	memcpy(p->p + 22 + 25 + 8, &off, 8);
}
static void m_entry_past_eof(struct wbuf *p, struct dent *d, size_t n)
{
	uint64_t off = UINT64_MAX - 3;
	(void)d; (void)n;
	memcpy(p->p + 22 + 25 + 8, &off, 8);
}
static void m_entry_wrong_type(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	p->p[22 + 25 + 24] = RVF_SEG_KERNEL;
}
static void m_entry_wrong_len(struct wbuf *p, struct dent *d, size_t n)
{
	uint64_t len = d[1].len - 1;
	(void)n;
	memcpy(p->p + 22 + 25 + 16, &len, 8);
}
static void m_entry_wrong_id(struct wbuf *p, struct dent *d, size_t n)
{
	uint64_t id = 99;
	(void)d; (void)n;
	memcpy(p->p + 22 + 25, &id, 8);
}
static void m_entry_duplicate(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	memcpy(p->p + 22, p->p + 22 + 25, 25);
}
static void m_entry_self(struct wbuf *p, struct dent *d, size_t n)
{
	/* the live manifest will be at d[1].off + 64 + d[1].len */
	uint64_t off = d[1].off + 64 + d[1].len, id = 3, len = p->len;
	uint8_t t = RVF_SEG_MANIFEST;
	(void)n;
	memcpy(p->p + 22 + 25, &id, 8);
	memcpy(p->p + 22 + 25 + 8, &off, 8);
	memcpy(p->p + 22 + 25 + 16, &len, 8);
	p->p[22 + 25 + 24] = t;
}
static void m_trailing_junk(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	put8(p, 0);
}
static void m_bad_fidi_magic(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	p->p[p->len - 68 - 4] ^= 1;
}
static void m_fidi_zero_id(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	memset(p->p + p->len - 68, 0, 16);
}
static void m_fidi_root_with_parent(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	p->p[p->len - 68 + 16] = 1;
}
static void m_fidi_short(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	p->len -= 1;
}
static void m_truncated_header(struct wbuf *p, struct dent *d, size_t n)
{
	(void)d; (void)n;
	p->len = 21;
}
static void m_deleted_both(struct wbuf *p, struct dent *d, size_t n)
{
	uint32_t c = 2;
	size_t at = 22 + 2 * 25;
	(void)d; (void)n;
	/* rewrite the tail: del_count 2, ids 1 and 2, no trailer */
	p->len = at;
	put32(p, c);
	put64(p, 1);
	put64(p, 2);
}

static void crafted_manifests_are_rejected(void **state)
{
	static const struct {
		const char *what;
		mutate_fn fn;
		bool fidi;
		int want;
	} cases[] = {
		{ "untouched",                NULL,                    true,  0 },
		{ "no FIDI trailer",          NULL,                    false, 0 },
		{ "seg_count huge",           m_seg_count_huge,        true,  -EUCLEAN },
		{ "dimension 0",              m_dim_zero,              true,  -EUCLEAN },
		{ "dimension differs",        m_dim_other,             true,  -EUCLEAN },
		{ "reserved byte",            m_reserved,              true,  -EUCLEAN },
		{ "del_count huge",           m_del_count_huge,        true,  -EUCLEAN },
		{ "entry inside a segment",   m_entry_mid_segment,     true,  -EUCLEAN },
		{ "entry past EOF",           m_entry_past_eof,        true,  -EUCLEAN },
		{ "entry wrong type",         m_entry_wrong_type,      true,  -EUCLEAN },
		{ "entry wrong length",       m_entry_wrong_len,       true,  -EUCLEAN },
		{ "entry wrong id",           m_entry_wrong_id,        true,  -EUCLEAN },
		{ "entry listed twice",       m_entry_duplicate,       true,  -EUCLEAN },
		{ "entry names the manifest", m_entry_self,            true,  -EUCLEAN },
		{ "junk after trailer",       m_trailing_junk,         true,  -EUCLEAN },
		{ "bad FIDI magic",           m_bad_fidi_magic,        true,  -EUCLEAN },
		{ "FIDI zero file id",        m_fidi_zero_id,          true,  -EUCLEAN },
		{ "root with a parent",       m_fidi_root_with_parent, true,  -EUCLEAN },
		{ "FIDI one byte short",      m_fidi_short,            true,  -EUCLEAN },
		{ "manifest header cut",      m_truncated_header,      true,  -EUCLEAN },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = parse_with_manifest(cases[i].fn, cases[i].fidi);

		if (err != cases[i].want)
			fail_msg("%s: got %d, want %d (%s)", cases[i].what, err, cases[i].want,
				 rvf_last_error());
		if (err)
			assert_non_null(strstr(rvf_last_error(), "crafted: offset "));
	}
}

static void deleting_every_id_leaves_an_empty_store(void **state)
{
	struct wbuf b = { 0 }, p = { 0 };
	static const uint64_t ids[] = { 1, 2 };
	struct dent d[2];
	struct rust_rvf *r = NULL;

	(void)state;
	manifest_payload(&p, 0, 4, 0, NULL, 0, NULL, 0, NULL);
	d[0] = seg(&b, RVF_SEG_MANIFEST, 1, p.p, p.len, true);
	p.len = 0;
	vec_payload(&p, 4, ids, 2, 1.0f);
	d[1] = seg(&b, RVF_SEG_VEC, 2, p.p, p.len, true);
	p.len = 0;
	manifest_payload(&p, 1, 4, 2, d, 2, NULL, 0, NULL);
	m_deleted_both(&p, d, 2);
	seg(&b, RVF_SEG_MANIFEST, 3, p.p, p.len, true);
	assert_int_equal(rust_rvf_parse(b.p, b.len, "all-deleted", &r), 0);
	assert_int_equal(r->n_live, 0);
	assert_null(r->ids);
	assert_int_equal(r->n_deleted, 2);
	assert_false(r->has_identity);
	rust_rvf_free(r);
	free(p.p);
	free(b.p);
}

/* Segment-header level: each field the walk checks. */
static void bad_segment_headers_are_rejected(void **state)
{
	static const struct {
		const char *what;
		size_t at;              /* byte in the VEC segment header */
		uint8_t val;
		int want;
	} cases[] = {
		{ "magic",        0x00, 0x00, -EUCLEAN },
		{ "version",      0x04, 0x02, -EUCLEAN },
		{ "type invalid", 0x05, 0x00, -EUCLEAN },
		{ "compressed",   0x06, 0x01, -ENOTSUP },
		{ "encrypted",    0x06, 0x02, -ENOTSUP },
		{ "algo xxh3",    0x20, 0x01, -ENOTSUP },
		{ "compression",  0x21, 0x01, -ENOTSUP },
		{ "reserved_0",   0x22, 0x01, -EUCLEAN },
		{ "reserved_1",   0x25, 0x01, -EUCLEAN },
		{ "uncomp len",   0x38, 0x01, -ENOTSUP },
		{ "hash",         0x28, 0x55, -EBADMSG },
		{ "length",       0x13, 0x01, -EUCLEAN },
		{ "timestamp",    0x1A, 0x77, 0 },
		{ "sealed flag",  0x06, 0x08, 0 },
	};
	struct dent dirs[8];
	size_t nd, i;
	struct wbuf b = build_store(true, dirs, &nd);

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rust_rvf *r = NULL;
		size_t at = dirs[1].off + cases[i].at;
		uint8_t old = b.p[at];
		int err;

		b.p[at] = cases[i].val == old ? (uint8_t)(old ^ 0x80) : cases[i].val;
		err = rust_rvf_parse(b.p, b.len, "hdr", &r);
		b.p[at] = old;
		if (err != cases[i].want)
			fail_msg("%s: got %d, want %d (%s)", cases[i].what, err, cases[i].want,
				 rvf_last_error());
		rust_rvf_free(r);
	}
	/* the first header's magic wrong: not an RVF file at all */
	{
		struct rust_rvf *r = NULL;

		b.p[0] ^= 0xFF;
		assert_int_equal(rust_rvf_parse(b.p, b.len, "hdr", &r), -ENOEXEC);
		b.p[0] ^= 0xFF;
	}
	/* no manifest at all */
	{
		struct wbuf v = { 0 }, p = { 0 };
		static const uint64_t ids[] = { 1 };
		struct rust_rvf *r = NULL;

		vec_payload(&p, 2, ids, 1, 0.0f);
		seg(&v, RVF_SEG_VEC, 1, p.p, p.len, true);
		assert_int_equal(rust_rvf_parse(v.p, v.len, "nomanifest", &r), -EUCLEAN);
		assert_non_null(strstr(rvf_last_error(), "no MANIFEST"));
		free(v.p);
		free(p.p);
	}
	free(b.p);
}

/* A VEC payload whose count does not fit its length, or whose dimension is
 * not the manifest's. */
static void bad_vec_payloads_are_rejected(void **state)
{
	int which;

	(void)state;
	for (which = 0; which < 4; which++) {
		struct wbuf b = { 0 }, p = { 0 };
		static const uint64_t ids[] = { 1, 2 };
		struct dent d[1];
		struct rust_rvf *r = NULL;
		uint32_t cnt;

		vec_payload(&p, 4, ids, 2, 1.0f);
		if (which == 0) {
			cnt = 3;
			memcpy(p.p + 2, &cnt, 4);
		} else if (which == 1) {
			cnt = 0xFFFFFFFFu;
			memcpy(p.p + 2, &cnt, 4);
		} else if (which == 2) {
			p.p[0] = 5;
		} else {
			p.len = 4;      /* shorter than dim + count */
		}
		d[0] = seg(&b, RVF_SEG_VEC, 1, p.p, p.len, true);
		p.len = 0;
		manifest_payload(&p, 1, 4, 2, d, 1, NULL, 0, NULL);
		seg(&b, RVF_SEG_MANIFEST, 2, p.p, p.len, true);
		assert_int_equal(rust_rvf_parse(b.p, b.len, "vec", &r), -EUCLEAN);
		assert_null(r);
		free(p.p);
		free(b.p);
	}
}

/* Random structural damage with hashes recomputed afterwards, so the parser
 * itself (not the hash) must cope. Success is allowed; crashes are not. */
static void mutated_files_with_fixed_hashes_never_crash(void **state)
{
	struct tu_rng rng;
	size_t len, k, iters = tu_soak() ? 200000 : 20000, ok = 0;
	uint8_t *orig = load_fixture(&fixtures[5], &len), *b = malloc(len + 256);

	(void)state;
	assert_non_null(b);
	tu_rng_init(&rng, tu_seed() ^ 0x3e3e);
	for (k = 0; k < iters; k++) {
		struct rust_rvf *r = NULL;
		size_t n = len, off = 0, j, nmut = 1 + tu_rng_below(&rng, 4);
		int err;

		memcpy(b, orig, len);
		for (j = 0; j < nmut; j++) {
			size_t at = tu_rng_below(&rng, n);

			switch (tu_rng_below(&rng, 4)) {
			case 0:
				b[at] = (uint8_t)tu_rng_next(&rng);
				break;
			case 1:         /* a small integer, often a length or count */
				b[at] = (uint8_t)tu_rng_below(&rng, 4);
				break;
			case 2:
				n = at;
				break;
			default:
				memset(b + at, 0xFF, n - at < 4 ? n - at : 4);
				break;
			}
		}
		/* re-hash every segment the walk can still see */
		while (off + RVF_SEG_HEADER_SIZE <= n) {
			struct rvf_seg_hdr h;

			memcpy(&h, b + off, sizeof(h));
			if (h.payload_length > n - off - RVF_SEG_HEADER_SIZE)
				break;
			if (h.checksum_algo == 0)
				rust_content_hash(b + off + 64, h.payload_length,
						  b + off + offsetof(struct rvf_seg_hdr, content_hash));
			off += RVF_SEG_HEADER_SIZE + h.payload_length;
		}
		{
			/* an exact-size copy so ASan sees any over-read */
			uint8_t *t = malloc(n ? n : 1);

			assert_non_null(t);
			memcpy(t, b, n);
			err = rust_rvf_parse(t, n, "mutated", &r);
			free(t);
		}
		if (!err) {
			ok++;
			assert_true(r->dim > 0);
			for (j = 1; j < r->n_live; j++)
				assert_true(r->ids[j - 1] < r->ids[j]);
			for (j = 0; j < r->n_carried; j++)
				assert_true(r->carried[j].raw_len == 64 + r->carried[j].payload_len);
		} else {
			assert_null(r);
		}
		rust_rvf_free(r);
	}
	printf("info: %zu of %zu mutated files parsed\n", ok, iters);
	free(b);
	free(orig);
}

static int setup(void **state)
{
	(void)state;
	/* No log sink: thousands of rejections stay quiet; rvf_last_error()
	 * still records each message for the checks above. */
	rvf_set_log(NULL, NULL, RVF_LOG_ERROR);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixtures_match_readme),
		cmocka_unit_test(buffer_parse_equals_file_read),
		cmocka_unit_test(lineage_child_names_parent),
		cmocka_unit_test(runtime_content_hash_matches_every_fixture_segment),
		cmocka_unit_test(carried_segments_are_byte_identical),
		cmocka_unit_test(truncated_fixtures_fail),
		cmocka_unit_test(truncated_file_on_disk_fails),
		cmocka_unit_test(flipped_fixture_bytes_fail_or_change_nothing),
		cmocka_unit_test(empty_garbage_and_directories_fail),
		cmocka_unit_test(synthetic_store_resolves_overrides_deletions_and_carries),
		cmocka_unit_test(live_digest_is_sha256_of_id_and_values),
		cmocka_unit_test(crafted_manifests_are_rejected),
		cmocka_unit_test(deleting_every_id_leaves_an_empty_store),
		cmocka_unit_test(bad_segment_headers_are_rejected),
		cmocka_unit_test(bad_vec_payloads_are_rejected),
		cmocka_unit_test(mutated_files_with_fixed_hashes_never_crash),
	};

	find_fixtures();
	printf("fixtures: %s\n", fixture_dir);
	return cmocka_run_group_tests(tests, setup, NULL);
}
