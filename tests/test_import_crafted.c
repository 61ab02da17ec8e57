/*
 * test_import_crafted.c - the Rust-file reader on synthetic files:
 * overrides, deletions and carried segments resolved, the live digest,
 * crafted manifests and bad segment headers and VEC payloads rejected.
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
#include "rust_fixtures.h"
#include "common/log.h"
#include "codec/ebpf.h"
#include "codec/hash.h"
#include "codec/kernel.h"
#include "codec/rust_import.h"
#include "rvf/format.h"
#include "rvf/payload.h"
#include "import_fixture.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(synthetic_store_resolves_overrides_deletions_and_carries),
		cmocka_unit_test(live_digest_is_sha256_of_id_and_values),
		cmocka_unit_test(crafted_manifests_are_rejected),
		cmocka_unit_test(deleting_every_id_leaves_an_empty_store),
		cmocka_unit_test(bad_segment_headers_are_rejected),
		cmocka_unit_test(bad_vec_payloads_are_rejected),
	};

	if_find_fixtures();
	printf("fixtures: %s\n", if_fixture_dir);
	return cmocka_run_group_tests(tests, if_setup, NULL);
}
