/*
 * test_store_api.c - the store API at its edges: read-only handles, bad
 * input, extreme values, profiles, recall through the store API, lineage,
 * kernel and eBPF segments, queries from many threads.
 *
 * rvf-test: both-backends
 * rvf-test: every-simd (tests/run.sh forces each kernel set in turn)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <dirent.h>

#include "rvf/rvf.h"
#include "codec/hash.h"
#include "store/store_internal.h"
#include "crashsim.h"
#include "testutil.h"
#include "store_fixture.h"
#include "store/store_peek.h"

/* ---- read-only and bad input ---------------------------------------------------------- */

static void readonly_handle_refuses_every_mutator(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s, *ro = NULL;
	struct rvf_store_status st;
	float x[DIM] = { 0 };

	sf_ds_make(&d, DIM, 50, 3);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, 50, true);
	/* a reader next to the writer */
	assert_int_equal(rvf_store_open_readonly(f->path, NULL, &ro), 0);
	struct rvf_vector v = { .id = 1, .values = x, .dim = DIM };
	uint64_t id = d.ids[0];
	struct rvf_filter *flt = sf_make_filter(0);
	struct rvf_kernel_opts ko = { 0 };
	struct rvf_store *child = NULL;
	char *cp = tu_path(f->dir, "child.rvf");
	assert_int_equal(rvf_store_ingest_batch(ro, &v, 1, NULL), -EROFS);
	assert_int_equal(rvf_store_delete(ro, &id, 1, NULL), -EROFS);
	assert_int_equal(rvf_store_delete_by_filter(ro, flt, NULL), -EROFS);
	assert_int_equal(rvf_store_compact(ro, NULL), -EROFS);
	assert_int_equal(rvf_store_embed_kernel(ro, &ko, "k", 1, NULL, NULL), -EROFS);
	assert_int_equal(rvf_store_embed_ebpf(ro, NULL, "k", 1, NULL, 0, NULL), -EROFS);
	assert_int_equal(rvf_store_status(ro, &st), 0);
	assert_true(st.read_only);
	assert_int_equal(st.live_vectors, 50);
	struct rvf_result r[3];
	assert_int_equal(rvf_store_query(ro, d.v, DIM, 3, NULL, r), 3);
	assert_int_equal(r[0].id, d.ids[0]);
	sf_expect_verify(ro);
	/* derive from a read-only parent works (the child is new) */
	assert_int_equal(rvf_store_derive(ro, cp, RVF_DERIVE_SNAPSHOT, NULL, &child), 0);
	rvf_store_close(child);
	rvf_filter_free(flt);
	rvf_store_close(ro);
	/* a second writer is refused while the first holds the lock */
	struct rvf_store *w2 = NULL;
	struct rvf_store_opts wo = { .write_timeout_ms = 50 };
	assert_int_equal(rvf_store_open(f->path, &wo, &w2), -EBUSY);
	rvf_store_close(s);
	free(cp);
	sf_ds_free(&d);
}

static void bad_input_is_rejected_with_reasons(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = NULL;
	struct rvf_store_opts o = { .dimension = 4, .metric = RVF_METRIC_COSINE };
	float good[4] = { 1, 2, 3, 4 }, nan[4] = { 1, NAN, 3, 4 }, inf[4] = { INFINITY, 0, 0, 0 };
	float zero[4] = { 0 }, three[3] = { 1, 2, 3 };
	struct rvf_meta_entry dup[2] = { { 1, rvf_meta_u64(1) }, { 1, rvf_meta_u64(2) } };
	struct rvf_vector v[6] = {
		{ .id = 1, .values = good, .dim = 4 },
		{ .id = 2, .values = three, .dim = 3 },
		{ .id = 3, .values = nan, .dim = 4 },
		{ .id = 4, .values = inf, .dim = 4 },
		{ .id = 5, .values = good, .dim = 4, .meta = dup, .n_meta = 2 },
		{ .id = 6, .values = zero, .dim = 4 },
	};
	struct rvf_ingest_result r;
	char *missing = tu_path(f->dir, "nope.rvf");
	struct rvf_store *x = NULL;

	assert_int_equal(rvf_store_open(missing, NULL, &x), -ENOENT);
	assert_int_equal(rvf_store_open_readonly(missing, NULL, &x), -ENOENT);
	assert_null(x);
	struct rvf_store_opts bad = { .dimension = 0 };
	assert_int_equal(rvf_store_create(f->path, &bad, &x), -EINVAL);
	bad.dimension = 70000;
	assert_int_equal(rvf_store_create(f->path, &bad, &x), -EINVAL);
	bad.dimension = 4;
	bad.metric = (enum rvf_metric)7;
	assert_int_equal(rvf_store_create(f->path, &bad, &x), -EINVAL);
	assert_null(x);
	assert_int_equal(access(f->path, F_OK), -1);

	assert_int_equal(rvf_store_create(f->path, &o, &s), 0);
	assert_int_equal(rvf_store_create(f->path, &o, &x), -EEXIST);
	assert_int_equal(rvf_store_ingest_batch(s, v, 6, &r), 0);
	assert_int_equal(r.accepted, 1);
	assert_int_equal(r.rejected, 5);
	assert_int_equal(r.rejects[0].index, 1);
	assert_int_equal(r.rejects[0].reason, RVF_REJECT_DIMENSION);
	assert_int_equal(r.rejects[1].reason, RVF_REJECT_NONFINITE);
	assert_int_equal(r.rejects[2].reason, RVF_REJECT_NONFINITE);
	assert_int_equal(r.rejects[3].reason, RVF_REJECT_METADATA);
	assert_int_equal(r.rejects[3].id, 5);
	assert_int_equal(r.rejects[4].reason, RVF_REJECT_ZERO_NORM);
	assert_string_equal(rvf_reject_reason_name(RVF_REJECT_NONFINITE), "NaN or infinite value");
	rvf_ingest_result_release(&r);
	/* nothing accepted: no commit, same epoch */
	uint64_t e0 = rvf_dir_generation(rvf_store_dir(s));
	assert_int_equal(rvf_store_ingest_batch(s, v + 1, 2, &r), 0);
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.epoch, e0);
	rvf_ingest_result_release(&r);
	assert_int_equal(rvf_store_ingest_batch(s, NULL, 3, &r), -EINVAL);
	/* queries */
	struct rvf_result res[2];
	assert_int_equal(rvf_store_query(s, three, 3, 2, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, nan, 4, 2, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, good, 4, 0, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, good, 4, 2, NULL, res), 1);
	assert_int_equal(res[0].id, 1);
	struct rvf_query_opts qo = { .flags = RVF_QUERY_OMIT_DISTANCES };
	assert_int_equal(rvf_store_query(s, inf, 4, 2, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, good, 4, 2, &qo, res), 1);
	assert_true(res[0].distance == 0.0f);
	assert_int_equal(rvf_store_get_vector(s, 99, good, 4), -ENOENT);
	rvf_store_close(s);
	/* a file that is not a store */
	FILE *fp = fopen(missing, "w");
	fputs("hello, not a store", fp);
	fclose(fp);
	assert_true(rvf_store_open(missing, NULL, &x) < 0);
	assert_true(rvf_store_open_readonly(missing, NULL, &x) < 0);
	assert_null(x);
	/* metric names */
	enum rvf_metric m;
	assert_int_equal(rvf_metric_parse("cosine", &m), 0);
	assert_int_equal(m, RVF_METRIC_COSINE);
	assert_int_equal(rvf_metric_parse("l1", &m), -EINVAL);
	assert_string_equal(rvf_metric_name(RVF_METRIC_IP), "ip");
	free(missing);
}

/* Finite but extreme values (near FLT_MAX, denormal spreads) are accepted
 * and must not break the index (its 8-bit quantiser divides by the range). */
static void extreme_finite_values_are_stored_and_searched(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = sf_create(f->path, 4, RVF_METRIC_L2);
	float rows[5][4] = {
		{ 3e38f, -3e38f, 0, 1 },
		{ 0, 1e-38f, 0, 0 },
		{ 1e-45f, 0, 0, 0 },
		{ -3.4e38f, 3.4e38f, -3.4e38f, 3.4e38f },
		{ 1, 2, 3, 4 },
	};
	struct rvf_vector v[5];
	struct rvf_result r[5];
	float got[4];

	for (int i = 0; i < 5; i++)
		v[i] = (struct rvf_vector){ .id = (uint64_t)i, .values = rows[i], .dim = 4 };
	assert_int_equal(rvf_store_ingest_batch(s, v, 5, NULL), 0);
	for (int i = 0; i < 5; i++) {
		assert_true(rvf_store_query(s, rows[i], 4, 5, NULL, r) > 0);
		assert_int_equal(rvf_store_get_vector(s, (uint64_t)i, got, 4), 0);
		assert_memory_equal(got, rows[i], sizeof(got));
	}
	rvf_store_close(s);
	s = sf_reopen(f->path);
	sf_expect_verify(s);
	rvf_store_close(s);
}

static void profile_comes_from_the_extension(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "a.rvdna", "b.RVTEXT", "c.rvgraph", "d.rvvis", "e.rvf" };
	const int want[] = { RVF_PROFILE_RVDNA, RVF_PROFILE_RVTEXT, RVF_PROFILE_RVGRAPH,
			     RVF_PROFILE_RVVISION, RVF_PROFILE_GENERIC };

	for (int i = 0; i < 5; i++) {
		char *p = tu_path(f->dir, names[i]);
		struct rvf_store *s = sf_create(p, 3, RVF_METRIC_L2);
		struct rvf_store_status st;
		rvf_store_close(s);
		s = sf_reopen(p);
		assert_int_equal(rvf_store_status(s, &st), 0);
		assert_int_equal(st.profile, want[i]);
		rvf_store_close(s);
		free(p);
	}
}

/* ---- recall ------------------------------------------------------------------------------- */

static void recall_through_the_store_api(void **state)
{
	struct fx *f = *state;
	const uint32_t dim = 32;
	const size_t n = 4000;
	struct rvf_store *s = sf_create(f->path, dim, RVF_METRIC_L2);
	float *v = malloc(n * dim * 4);
	struct rvf_vector *vv = calloc(n, sizeof(*vv));
	struct tu_rng r;
	double hits = 0;
	int nq = 50;

	tu_rng_init(&r, 77);
	for (size_t i = 0; i < n * dim; i++)
		v[i] = (float)tu_rng_unit(&r);
	for (size_t i = 0; i < n; i++)
		vv[i] = (struct rvf_vector){ .id = i * 10, .values = v + i * dim, .dim = dim };
	for (size_t i = 0; i < n; i += 1000)
		assert_int_equal(rvf_store_ingest_batch(s, vv + i, 1000, NULL), 0);
	for (int round = 0; round < 2; round++) {
		hits = 0;
		for (int q = 0; q < nq; q++) {
			float qv[32];
			struct rvf_result a[10], e[10];
			struct rvf_query_opts ex = { .flags = RVF_QUERY_EXACT };
			for (uint32_t j = 0; j < dim; j++)
				qv[j] = (float)tu_rng_unit(&r);
			assert_int_equal(rvf_store_query(s, qv, dim, 10, NULL, a), 10);
			assert_int_equal(rvf_store_query(s, qv, dim, 10, &ex, e), 10);
			for (int i = 0; i < 10; i++)
				for (int j = 0; j < 10; j++)
					hits += a[i].id == e[j].id;
		}
		printf("info: recall@10 (round %d) = %.3f\n", round, hits / (nq * 10.0));
		assert_true(hits / (nq * 10.0) >= 0.9);
		rvf_store_close(s);
		s = sf_reopen(f->path);
	}
	rvf_store_close(s);
	free(vv);
	free(v);
}


/* ---- lineage ---------------------------------------------------------------------------- */

static void derive_records_parent_hash_depth_and_type(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *p, *c = NULL, *g = NULL;
	struct rvf_file_identity pid, cid, gid;
	struct rvf_lineage_record lr;
	uint8_t h1[32], h2[32], h3[32];
	char *cp = tu_path(f->dir, "child.rvtext"), *gp = tu_path(f->dir, "grand.rvf");

	sf_ds_make(&d, DIM, 100, 13);
	p = sf_create(f->path, DIM, RVF_METRIC_COSINE);
	assert_int_equal(rvf_store_state_hash(p, h1), 0);
	sf_ingest(p, &d, 0, 100, true);
	assert_int_equal(rvf_store_state_hash(p, h2), 0);
	assert_memory_not_equal(h1, h2, 32);
	assert_int_equal(rvf_store_derivation(p, &lr), -ENOENT);
	assert_int_equal(rvf_store_file_identity(p, &pid), 0);
	assert_int_equal(pid.lineage_depth, 0);
	assert_int_equal(rvf_store_derive(p, cp, RVF_DERIVE_FILTER, NULL, &c), 0);
	assert_int_equal(rvf_store_derive(p, cp, RVF_DERIVE_FILTER, NULL, &g), -EEXIST);
	assert_int_equal(rvf_store_derive(p, gp, (enum rvf_derivation_type)77, NULL, &g), -EINVAL);
	rvf_store_close(c);
	rvf_store_close(p);
	/* the parent's hash is stable across reopen */
	p = sf_reopen(f->path);
	assert_int_equal(rvf_store_state_hash(p, h3), 0);
	assert_memory_equal(h2, h3, 32);
	c = sf_reopen(cp);
	assert_int_equal(rvf_store_file_identity(c, &cid), 0);
	assert_memory_equal(cid.parent_id, pid.file_id, 16);
	assert_memory_not_equal(cid.file_id, pid.file_id, 16);
	assert_memory_equal(cid.parent_hash, h2, 32);
	assert_int_equal(cid.lineage_depth, 1);
	assert_int_equal(rvf_store_lineage_depth(c), 1);
	uint8_t fid[16], parent[16];
	rvf_store_file_id(c, fid);
	rvf_store_parent_id(c, parent);
	assert_memory_equal(fid, cid.file_id, 16);
	assert_memory_equal(parent, pid.file_id, 16);
	assert_int_equal(rvf_store_derivation(c, &lr), 0);
	assert_int_equal(lr.derivation_type, RVF_DERIVE_FILTER);
	assert_memory_equal(lr.file_id, cid.file_id, 16);
	assert_memory_equal(lr.parent_id, pid.file_id, 16);
	/* same parameters, empty, the child's own profile (from its extension) */
	struct rvf_store_status st;
	assert_int_equal(rvf_store_status(c, &st), 0);
	assert_int_equal(st.live_vectors, 0);
	assert_int_equal(st.metric, RVF_METRIC_COSINE);
	assert_int_equal(st.dimension, DIM);
	assert_int_equal(st.profile, RVF_PROFILE_RVTEXT);
	assert_int_equal(rvf_store_derive(c, gp, RVF_DERIVE_SNAPSHOT, NULL, &g), 0);
	assert_int_equal(rvf_store_file_identity(g, &gid), 0);
	assert_int_equal(gid.lineage_depth, 2);
	assert_memory_equal(gid.parent_id, cid.file_id, 16);
	rvf_store_close(g);
	rvf_store_close(c);
	rvf_store_close(p);
	free(cp);
	free(gp);
	sf_ds_free(&d);
}

/* ---- KERNEL and EBPF ------------------------------------------------------------------- */

static void kernel_embed_extract_with_and_without_binding(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = sf_create(f->path, 8, RVF_METRIC_L2);
	struct rvf_kernel_opts ko = { .arch = RVF_ARCH_X86_64, .kernel_type = RVF_KTYPE_MICROLINUX,
				      .kernel_flags = RVF_KERNEL_F_HAS_QUERY_API, .api_port = 8080,
				      .api_transport = RVF_API_TCP_HTTP, .vcpu_count = 2,
				      .cmdline = "console=ttyS0", .cmdline_len = 13 };
	struct rvf_kernel_binding b = { .binding_version = 1, .min_runtime_version = 3,
					.allowed_segment_mask = 0x3 };
	struct rvf_kernel_hdr h;
	struct rvf_kernel_binding bo;
	uint8_t img1[3000], img2[777], dig[32];
	void *img = NULL, *cmd = NULL;
	size_t ilen = 0, clen = 0;
	uint64_t id1 = 0, id2 = 0;
	struct tu_rng r;

	tu_rng_init(&r, 5);
	tu_rng_fill(&r, img1, sizeof(img1));
	tu_rng_fill(&r, img2, sizeof(img2));
	memset(b.policy_hash, 0xAB, 32);
	assert_int_equal(rvf_store_extract_kernel(s, &h, &img, &ilen, NULL, NULL), -ENOENT);
	assert_int_equal(rvf_store_extract_kernel_binding(s, &bo), -ENOENT);
	assert_int_equal(rvf_store_embed_kernel(s, &ko, img1, sizeof(img1), NULL, &id1), 0);
	assert_int_equal(rvf_store_extract_kernel_binding(s, &bo), -ENOENT);
	assert_int_equal(rvf_store_embed_kernel(s, &ko, img2, sizeof(img2), &b, &id2), 0);
	assert_true(id2 > id1);
	assert_int_equal(rvf_store_embed_kernel(s, &ko, img2, 0, NULL, NULL), -EINVAL);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	assert_int_equal(rvf_store_extract_kernel(s, &h, &img, &ilen, &cmd, &clen), 0);
	assert_int_equal(h.magic, RVF_KERNEL_MAGIC);
	assert_int_equal(ilen, sizeof(img2));
	assert_memory_equal(img, img2, sizeof(img2));
	assert_int_equal(clen, 13);
	assert_memory_equal(cmd, "console=ttyS0", 13);
	assert_int_equal(sha256(img2, sizeof(img2), dig), 0);
	assert_memory_equal(h.image_hash, dig, 32);
	assert_true(h.kernel_flags & RVF_KERNEL_F_HAS_BINDING);
	assert_true(h.kernel_flags & RVF_KERNEL_F_HAS_QUERY_API);
	assert_int_equal(h.api_port_be, (uint16_t)((8080 >> 8) | ((8080 & 0xff) << 8)));
	assert_int_equal(h.vcpu_count, 2);
	assert_int_equal(rvf_store_extract_kernel_binding(s, &bo), 0);
	assert_memory_equal(&bo, &b, sizeof(b));
	free(img);
	free(cmd);
	sf_expect_verify(s);
	rvf_store_close(s);
}

/* A real eBPF object, compiled at test time. */
static const char bpf_src[] =
	"#define SEC(n) __attribute__((section(n), used))\n"
	"struct { int (*type)[2]; int (*max_entries)[4]; } hits SEC(\".maps\");\n"
	"SEC(\"xdp\") int xdp_pass(void *ctx) { (void)ctx; return 2; }\n"
	"char _license[] SEC(\"license\") = \"GPL\";\n";

static void *build_bpf(const char *dir, size_t *len)
{
	char *src = tu_path(dir, "p.bpf.c"), *obj = tu_path(dir, "p.bpf.o"), cmd[1024];
	FILE *fp = fopen(src, "w");
	void *buf = NULL;

	assert_non_null(fp);
	fputs(bpf_src, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "clang -O2 -g -target bpf -c %s -o %s", src, obj);
	if (system(cmd) != 0)
		fail_msg("clang -target bpf failed (needed to build the eBPF fixture)");
	fp = fopen(obj, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	*len = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc(*len);
	assert_int_equal(fread(buf, 1, *len, fp), *len);
	fclose(fp);
	free(src);
	free(obj);
	return buf;
}

static void ebpf_embed_extract_real_elf(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = sf_create(f->path, 8, RVF_METRIC_L2);
	struct rvf_ebpf_opts eo = { .program_type = RVF_EBPF_PROG_XDP_DISTANCE,
				    .attach_type = RVF_EBPF_ATTACH_XDP_INGRESS };
	struct rvf_ebpf_hdr h;
	size_t plen = 0, olen = 0, blen = 0;
	void *prog = build_bpf(f->dir, &plen), *out = NULL, *btf = NULL;
	uint8_t dig[32], fake_btf[40];
	uint64_t seg = 0;

	memset(fake_btf, 0x5A, sizeof(fake_btf));
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &out, &olen, NULL, NULL), -ENOENT);
	/* not an ELF: refused */
	assert_int_equal(rvf_store_embed_ebpf(s, &eo, "\x7f" "ELFjunkjunkjunk", 16, NULL, 0, NULL), -ENOEXEC);
	assert_int_equal(rvf_store_embed_ebpf(s, &eo, prog, plen, fake_btf, sizeof(fake_btf), &seg), 0);
	assert_true(seg > 0);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &out, &olen, &btf, &blen), 0);
	assert_int_equal(h.magic, RVF_EBPF_MAGIC);
	assert_int_equal(olen, plen);
	assert_memory_equal(out, prog, plen);
	assert_int_equal(blen, sizeof(fake_btf));
	assert_memory_equal(btf, fake_btf, blen);
	assert_int_equal(sha256(prog, plen, dig), 0);
	assert_memory_equal(h.program_hash, dig, 32);
	assert_int_equal(h.max_dimension, 8);
	assert_int_equal(h.map_count, 1);
	assert_true(h.insn_count >= 2);      /* r0 = 2; exit */
	assert_int_equal(h.program_type, RVF_EBPF_PROG_XDP_DISTANCE);
	sf_expect_verify(s);
	free(out);
	free(btf);
	free(prog);
	rvf_store_close(s);
}

/* ---- concurrency ------------------------------------------------------------------------ */


struct qthread {
	struct rvf_store *s;
	const struct ds *d;
	const struct rvf_filter *flt;
	int bad;
};

static void *query_worker(void *arg)
{
	struct qthread *t = arg;

	for (int i = 0; i < 200; i++) {
		struct rvf_result r[10], e[10];
		struct rvf_query_opts qo = { .filter = (i & 1) ? t->flt : NULL };
		struct rvf_query_opts xo = qo;
		const float *q = t->d->v + (size_t)(i * 13 % (int)t->d->n) * t->d->dim;
		xo.flags = RVF_QUERY_EXACT;
		int n = rvf_store_query(t->s, q, t->d->dim, 10, &qo, r);
		int m = rvf_store_query(t->s, q, t->d->dim, 10, &xo, e);
		if (n != m || n <= 0)
			t->bad++;
	}
	return NULL;
}

static void queries_from_many_threads(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	pthread_t th[4];
	struct qthread qt[4];
	struct rvf_filter *flt = sf_make_filter(6);

	sf_ds_make(&d, DIM, NV, 17);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, NV, true);
	for (int i = 0; i < 4; i++) {
		qt[i] = (struct qthread){ s, &d, flt, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, query_worker, &qt[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(qt[i].bad, 0);
	}
	rvf_filter_free(flt);
	rvf_store_close(s);
	sf_ds_free(&d);
}

/* Files in dir other than . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* The store's new name is made durable through the I/O layer (the crash
 * simulator counts the parent directory's fsync); when that fsync fails,
 * create reports it and leaves neither the store nor its temporary file. */
static void create_reports_a_failed_parent_fsync(void **state)
{
	struct fx *f = *state;
	struct rvf_store_opts o = { .dimension = 4 };
	struct rvf_store *s = NULL;
	struct crashsim cs;
	struct stat st;
	uint64_t ops, syncs;

	memset(&cs, 0, sizeof(cs));
	crashsim_install(&cs);
	assert_int_equal(rvf_store_create(f->path, &o, &s), 0);
	crashsim_uninstall();
	ops = cs.ops;
	syncs = cs.syncs;
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(unlink(f->path), 0);
	/* the last op of a create is that fsync: fail it */
	memset(&cs, 0, sizeof(cs));
	cs.fail_at = ops;
	crashsim_install(&cs);
	s = NULL;
	assert_int_equal(rvf_store_create(f->path, &o, &s), -EIO);
	crashsim_uninstall();
	assert_null(s);
	assert_int_equal(cs.ops, ops);
	assert_int_equal(cs.syncs, syncs);
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(entries(f->dir), 0);
	assert_non_null(strstr(rvf_last_error(), "parent directory"));
	/* and without the failure it works again */
	assert_int_equal(rvf_store_create(f->path, &o, &s), 0);
	assert_int_equal(rvf_store_close(s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(readonly_handle_refuses_every_mutator, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(bad_input_is_rejected_with_reasons, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(create_reports_a_failed_parent_fsync, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(extreme_finite_values_are_stored_and_searched, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(profile_comes_from_the_extension, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(recall_through_the_store_api, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(derive_records_parent_hash_depth_and_type, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(kernel_embed_extract_with_and_without_binding, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(ebpf_embed_extract_real_elf, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(queries_from_many_threads, sf_setup, sf_teardown),
	};

	if (sf_suite_init())
		return 1;
	return cmocka_run_group_tests_name("store_api", tests, NULL, NULL);
}
