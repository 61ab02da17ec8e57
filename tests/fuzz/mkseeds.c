/*
 * mkseeds - write the generated seed corpora for the fuzz targets:
 *
 *   mkseeds OUTDIR [FIXTURES]     -> OUTDIR/<target>/<seed>
 *
 * Seeds are small real inputs, made with the library itself, so a fuzzer
 * starts past every magic number and checksum: a native store (vectors,
 * metadata, deletes, a kernel, graph checkpoints) as a file, as its
 * segments' payloads and in fuzz_store_open's encoding; saved HNSW blobs;
 * one small file of every input format the CLI reads (plain and gzip); and,
 * from FIXTURES (the Rust-written reference files), whole files and their
 * KERNEL / EBPF payloads. Each seed carries the selector bytes its target
 * reads first. Run by tools/fuzz.sh; exit 1 on any failure.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "codec/rust_import.h"
#include "rvf/rvf.h"
#include "store/store_internal.h"
#include "fuzz_delta_base.h"

static const char *outdir;
static int failures;

__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkseeds: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%s)\n", rvf_last_error());
	failures++;
}

/* OUTDIR/target/name := prefix[0..plen) data[0..len) */
static void put(const char *target, const char *name, const void *prefix, size_t plen, const void *data,
		size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(prefix, 1, plen, f) != plen || fwrite(data, 1, len, f) != len || fclose(f)) {
		fail("cannot write %s: %s", path, strerror(errno));
		return;
	}
}

static int slurp(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -EIO;
	}
	*buf = malloc((size_t)n + 1);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		free(*buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

/* gzip of buf, via a temporary file (zlib's gz* writer). */
static int gzip_of(const void *buf, size_t len, uint8_t **out, size_t *olen)
{
	char path[4096];
	gzFile gz;
	int rc;

	snprintf(path, sizeof(path), "%s/.gz-tmp", outdir);
	gz = gzopen(path, "wb9");
	if (!gz)
		return -EIO;
	if (len && gzwrite(gz, buf, (unsigned)len) != (int)len) {
		gzclose(gz);
		return -EIO;
	}
	if (gzclose(gz) != Z_OK)
		return -EIO;
	rc = slurp(path, out, olen);
	unlink(path);
	return rc;
}

/* ---- a native store -------------------------------------------------------- */

#define DIM 4

/* fuzz_store_open's input: sel, nseg, store header, then per segment
 * kind (0 VEC, 1 META, 2 JOURNAL, 3 checkpoint), u16 length, payload. */
struct enc { uint8_t *p; size_t len, cap; };

static void enc_add(struct enc *e, const void *p, size_t n)
{
	if (e->len + n > e->cap) {
		size_t nc = (e->len + n) * 2;
		uint8_t *np = realloc(e->p, nc);
		if (!np)
			abort();
		e->p = np;
		e->cap = nc;
	}
	memcpy(e->p + e->len, p, n);
	e->len += n;
}

static void store_seeds(void)
{
	char path[4096];
	struct rvf_store_opts o = { .dimension = DIM, .threads = 1, .checkpoint_every = 1 };
	struct rvf_store *s = NULL;
	struct rvf_dir *d = NULL;
	struct rvf_dir_segment *segs = NULL;
	struct enc e = { 0 };
	uint8_t *file = NULL, *um = NULL, *ck = NULL;
	size_t flen, umlen = 0, cklen = 0, n = 0, nenc = 0;
	uint8_t kernel_img[96];
	struct rvf_kernel_opts ko = { .cmdline = "console=ttyS0", .cmdline_len = 13 };

	snprintf(path, sizeof(path), "%s/.store-tmp.rvf", outdir);
	unlink(path);
	if (rvf_store_create(path, &o, &s)) {
		fail("create %s", path);
		return;
	}
	for (int batch = 0; batch < 2; batch++) {
		struct rvf_vector v[12];
		struct rvf_meta_entry m[12][3];
		float vals[12][DIM];
		struct rvf_ingest_result res;

		for (int i = 0; i < 12; i++) {
			uint64_t id = (uint64_t)batch * 100 + (uint64_t)i;

			for (int j = 0; j < DIM; j++)
				vals[i][j] = (float)((i * 7 + j * 3 + batch) % 11) - 5.0f;
			m[i][0] = (struct rvf_meta_entry){ 0, rvf_meta_u64(id % 3) };
			m[i][1] = (struct rvf_meta_entry){ 1, rvf_meta_strn(i & 1 ? "cat" : "dog", 3) };
			m[i][2] = (struct rvf_meta_entry){ 2, rvf_meta_f64(i * 0.5) };
			v[i] = (struct rvf_vector){ id, vals[i], DIM, m[i], (uint32_t)(i % 4) };
		}
		if (rvf_store_ingest_batch(s, v, 12, &res)) {
			fail("ingest");
			goto out;
		}
		rvf_ingest_result_release(&res);
	}
	{
		uint64_t del[3] = { 1, 2, 105 };
		struct rvf_delete_result dr;

		if (rvf_store_delete(s, del, 3, &dr)) {
			fail("delete");
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(kernel_img); i++)
		kernel_img[i] = (uint8_t)(i * 37);
	if (rvf_store_embed_kernel(s, &ko, kernel_img, sizeof(kernel_img), NULL, NULL)) {
		fail("embed kernel");
		goto out;
	}
	if (rvf_store_close(s)) {
		s = NULL;
		fail("close");
		goto out;
	}
	s = NULL;
	if (slurp(path, &file, &flen)) {
		fail("read %s", path);
		goto out;
	}
	put("fuzz_dir_open", "native_store.rvf", "", 0, file, flen);

	if (rvf_dir_open_readonly(path, NULL, &d) || rvf_dir_segments(d, &segs, &n) ||
	    rvf_dir_user_metadata(d, (void **)&um, &umlen) ||
	    rvf_dir_read_vector_index(d, CKPT_FIELD, (void **)&ck, &cklen)) {
		fail("read back %s", path);
		goto out;
	}
	enc_add(&e, "\0\0", 2);        /* sel, nseg: patched below */
	enc_add(&e, um, umlen < sizeof(struct store_hdr) ? umlen : sizeof(struct store_hdr));
	for (size_t i = 0; i < n; i++) {
		void *p = NULL;
		size_t len = 0;
		uint8_t kind, sel;
		char name[64];

		if (rvf_dir_read_segment(d, segs[i].id, &p, &len)) {
			fail("read segment %llu", (unsigned long long)segs[i].id);
			continue;
		}
		switch (segs[i].type) {
		case RVF_SEG_META:
			sel = 0;
			snprintf(name, sizeof(name), "meta_%llu", (unsigned long long)segs[i].id);
			put("fuzz_segments", name, &sel, 1, p, len);
			kind = 1;
			break;
		case RVF_SEG_KERNEL:
			sel = 1;
			put("fuzz_segments", "kernel_native", &sel, 1, p, len);
			kind = 0xff;
			break;
		case RVF_SEG_VEC:
			kind = 0;
			break;
		case RVF_SEG_JOURNAL:
			kind = 2;
			break;
		default:
			kind = 0xff;
			break;
		}
		if (kind != 0xff && len < 4096 && nenc < 6) {
			uint16_t l16 = (uint16_t)len;

			enc_add(&e, &kind, 1);
			enc_add(&e, &l16, 2);
			enc_add(&e, p, len);
			nenc++;
		}
		free(p);
	}
	if (cklen < 4096) {
		uint8_t kind = 3;
		uint16_t l16 = (uint16_t)cklen;

		enc_add(&e, &kind, 1);
		enc_add(&e, &l16, 2);
		enc_add(&e, ck, cklen);
		nenc++;
	}
	e.p[1] = (uint8_t)nenc;
	e.p[0] = 0;                    /* as written: real hashes */
	put("fuzz_store_open", "native_raw", "", 0, e.p, e.len);
	e.p[0] = 0x3f;                 /* every fix-up, checkpoint tables */
	put("fuzz_store_open", "native_fixed", "", 0, e.p, e.len);
	e.p[0] = 0x1f;                 /* fix-ups, checkpoint without tables */
	put("fuzz_store_open", "native_fixed_notables", "", 0, e.p, e.len);
out:
	if (s)
		rvf_store_close(s);
	rvf_dir_close(d);
	free(segs);
	free(um);
	free(ck);
	free(file);
	free(e.p);
	unlink(path);
}

/* ---- HNSW blobs ------------------------------------------------------------ */

static void hnsw_seeds(void)
{
	static const struct { const char *name; enum rvf_metric m; unsigned flags; int del; } v[] = {
		{ "l2_vectors", RVF_METRIC_L2, RVF_HNSW_SAVE_VECTORS, 0 },
		{ "l2_novectors", RVF_METRIC_L2, 0, 0 },
		{ "l2_deleted", RVF_METRIC_L2, 0, 1 },
		{ "cosine_vectors_deleted", RVF_METRIC_COSINE, RVF_HNSW_SAVE_VECTORS, 1 },
		{ "ip_novectors_nosq8", RVF_METRIC_IP, 0, 0 },
	};

	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		struct rvf_hnsw_opts o = { .M = 4, .ef_construction = 16, .threads = 1,
					   .quant = k == 4 ? RVF_HNSW_QUANT_NONE : 0 };
		struct rvf_hnsw *h = NULL;
		float row[8];
		void *buf = NULL;
		size_t len;

		if (rvf_hnsw_new(8, v[k].m, &o, &h)) {
			fail("hnsw_new");
			continue;
		}
		for (uint32_t i = 0; i < 40; i++) {
			for (int j = 0; j < 8; j++)
				row[j] = (float)((i * 13 + (uint32_t)j * 5) % 17) / 17.0f - 0.3f;
			if (rvf_hnsw_add(h, 1000 + i, row))
				fail("hnsw_add");
		}
		if (v[k].del)
			for (uint32_t i = 0; i < 40; i += 7)
				rvf_hnsw_delete(h, 1000 + i);
		if (rvf_hnsw_save(h, v[k].flags, &buf, &len))
			fail("hnsw_save");
		else
			put("fuzz_hnsw_load", v[k].name, "", 0, buf, len);
		free(buf);
		rvf_hnsw_free(h);
	}
}

/* Deltas: fuzz_delta_base.h's base grown by a few nodes, a few deleted
 * (some of the base's too); with and without the repair byte. */
static void delta_seeds(void)
{
	for (int k = 0; k < 2; k++) {
		struct rvf_hnsw *h = NULL;
		uint64_t *hashes = NULL, fp = 0;
		size_t nbase;
		float row[FUZZ_DELTA_DIM];
		void *buf = NULL;
		size_t len;

		if (fuzz_delta_base(&h) || rvf_hnsw_base_sign(h, &hashes, &fp)) {
			fail("delta base");
			rvf_hnsw_free(h);
			continue;
		}
		nbase = rvf_hnsw_count(h);
		for (uint32_t i = 0; i < (k ? 40u : 6u); i++) {
			fuzz_delta_row(100 + i * 3, row);
			if (rvf_hnsw_add(h, 2000 + i, row))
				fail("delta add");
		}
		rvf_hnsw_delete(h, 1001);
		rvf_hnsw_delete(h, 2002);
		if (rvf_hnsw_save_delta(h, hashes, nbase, fp, &buf, &len)) {
			fail("hnsw_save_delta");
		} else {
			put("fuzz_hnsw_delta", k ? "grow40" : "grow6", "\0", 1, buf, len);
			put("fuzz_hnsw_delta", k ? "grow40_repair" : "grow6_repair", "\3", 1, buf, len);
		}
		free(buf);
		free(hashes);
		rvf_hnsw_free(h);
	}
}

/* ---- CLI input files ----------------------------------------------------- */

static void le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* fuzz_input: byte 0 the reader (input_fmt 0..5, 6 ivecs, 7 data_load),
 * byte 1 the batch size / row limit. */
static void input_seed(const char *name, uint8_t pick, uint8_t arg, const void *data, size_t len, int gz)
{
	uint8_t pre[2] = { pick, arg };

	put("fuzz_input", name, pre, 2, data, len);
	if (gz) {
		uint8_t *z = NULL;
		size_t zl;
		char zname[128];

		if (gzip_of(data, len, &z, &zl)) {
			fail("gzip %s", name);
			return;
		}
		snprintf(zname, sizeof(zname), "%s.gz", name);
		put("fuzz_input", zname, pre, 2, z, zl);
		free(z);
	}
}

static void input_seeds(void)
{
	uint8_t b[1024];
	size_t n = 0;

	/* fvecs: 5 rows of 3 floats; bvecs: 4 rows of 5 bytes; ivecs 3 x 4 */
	for (int r = 0; r < 5; r++) {
		le32(b + n, 3); n += 4;
		for (int j = 0; j < 3; j++) {
			float f = (float)(r * 3 + j) * 0.25f;
			memcpy(b + n, &f, 4); n += 4;
		}
	}
	input_seed("fvecs", 0, 2, b, n, 1);
	input_seed("fvecs_whole", 7, 0, b, n, 0);
	input_seed("fvecs_whole_max1", 7, 3, b, n, 0);
	n = 0;
	for (int r = 0; r < 4; r++) {
		le32(b + n, 5); n += 4;
		for (int j = 0; j < 5; j++)
			b[n++] = (uint8_t)(r * 50 + j);
	}
	input_seed("bvecs", 1, 3, b, n, 0);
	input_seed("bvecs_whole", 7, 1, b, n, 0);
	n = 0;
	for (int r = 0; r < 3; r++) {
		le32(b + n, 4); n += 4;
		for (int j = 0; j < 4; j++) {
			le32(b + n, (uint32_t)(r * 10 + j)); n += 4;
		}
	}
	input_seed("ivecs", 6, 0, b, n, 0);
	input_seed("ivecs_max2", 6, 2, b, n, 0);

	/* idx: u8 4 x 2 x 3, f32 3 x 4, i16 2 x 2, f64 2 x 1 */
	{
		static const struct { const char *name; uint8_t type, esz; uint32_t dims[3]; int nd; } t[] = {
			{ "idx_u8_3d", 0x08, 1, { 4, 2, 3 }, 3 },
			{ "idx_f32", 0x0d, 4, { 3, 4, 0 }, 2 },
			{ "idx_i16", 0x0b, 2, { 2, 2, 0 }, 2 },
			{ "idx_f64_1d", 0x0e, 8, { 2, 0, 0 }, 1 },
		};
		for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
			size_t cells = 1;

			n = 0;
			b[n++] = 0; b[n++] = 0; b[n++] = t[k].type; b[n++] = (uint8_t)t[k].nd;
			for (int i = 0; i < t[k].nd; i++) {
				be32(b + n, t[k].dims[i]); n += 4;
				cells *= t[k].dims[i];
			}
			for (size_t i = 0; i < cells * t[k].esz; i++)
				b[n++] = (uint8_t)(i * 29 + 3);
			input_seed(t[k].name, 3, 1, b, n, k == 0);
			if (k == 0)
				input_seed("idx_whole", 7, 2, b, n, 0);
		}
	}

	/* npy: v1 <f4 (3, 4); v1 |u1 (5,); v2 <i8 (2, 2) */
	{
		static const struct { const char *name, *descr, *shape; int ver; size_t cells, esz; } t[] = {
			{ "npy_f4", "<f4", "(3, 4)", 1, 12, 4 },
			{ "npy_u1_1d", "|u1", "(5,)", 1, 5, 1 },
			{ "npy_i8_v2", "<i8", "(2, 2)", 2, 4, 8 },
		};
		for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
			char hdr[128];
			size_t pre = t[k].ver == 1 ? 10 : 12;
			int hl = snprintf(hdr, sizeof(hdr), "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
					  t[k].descr, t[k].shape);
			size_t total = (pre + (size_t)hl + 1 + 63) / 64 * 64, h = total - pre;

			n = 0;
			memcpy(b, "\x93NUMPY", 6); n = 6;
			b[n++] = (uint8_t)t[k].ver; b[n++] = 0;
			if (t[k].ver == 1) {
				b[n++] = (uint8_t)h; b[n++] = (uint8_t)(h >> 8);
			} else {
				le32(b + n, (uint32_t)h); n += 4;
			}
			memcpy(b + n, hdr, (size_t)hl);
			memset(b + n + hl, ' ', h - (size_t)hl - 1);
			b[total - 1] = '\n';
			n = total;
			for (size_t i = 0; i < t[k].cells * t[k].esz; i++)
				b[n++] = (uint8_t)(i * 17 + 1);
			input_seed(t[k].name, 2, 2, b, n, 0);
		}
	}

	{
		static const char csv[] = "x,y,z\n1,2,3\n# a comment\n\n4.5, -1e3 ,inf\n1,x,3\n7,8\n0.1,0.2,0.3\r\n";
		static const char jsonl[] =
			"{\"id\":7,\"vector\":[1,2.5,-3],\"meta\":{\"0\":\"cat\",\"1\":{\"u64\":5},\"2\":1.5}}\n"
			"{\"vector\":[\"nan\",\"inf\",\"-inf\"]}\n"
			"\n"
			"{\"id\":\"18446744073709551615\",\"vector\":[0,0,1],\"meta\":null}\n"
			"{\"id\":-1,\"vector\":[1]}\n"
			"{\"vector\":[]}\n"
			"[1,2,3]\n"
			"{\"vector\":[1,2,3],\"extra\":1}\n"
			"{\"vector\":[1,{\"a\":1}]}\n"
			"{\"id\":9,\"vector\":[4,5,6],\"meta\":{\"3\":{\"bytes\":\"00ff\"},\"4\":{\"i64\":-2}}}\n"
			"{not json\n";

		input_seed("csv", 4, 3, csv, sizeof(csv) - 1, 1);
		input_seed("jsonl", 5, 4, jsonl, sizeof(jsonl) - 1, 1);
	}
}

/* ---- Rust-written reference files ------------------------------------------- */

static void fixture_seeds(const char *dir)
{
	DIR *dd = opendir(dir);
	struct dirent *de;

	if (!dd) {
		fail("cannot open fixtures %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(dd))) {
		char path[4096];
		uint8_t *buf = NULL;
		size_t len, nl = strlen(de->d_name);
		struct rust_rvf *r = NULL;
		uint8_t sel = 5;

		if (nl < 5 || strcmp(de->d_name + nl - 4, ".rvf"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (slurp(path, &buf, &len)) {
			fail("read %s", path);
			continue;
		}
		put("fuzz_rust_import", de->d_name, "", 0, buf, len);
		put("fuzz_segments", de->d_name, &sel, 1, buf, len);
		if (!rust_rvf_parse(buf, len, path, &r)) {
			for (size_t i = 0; i < r->n_carried; i++) {
				const struct rust_rvf_seg *c = &r->carried[i];
				char name[300];

				if (c->type == RVF_SEG_KERNEL)
					sel = 2;
				else if (c->type == RVF_SEG_EBPF)
					sel = 4;
				else
					continue;
				snprintf(name, sizeof(name), "%s.seg%llu", de->d_name,
					 (unsigned long long)c->segment_id);
				put("fuzz_segments", name, &sel, 1, c->payload, (size_t)c->payload_len);
				/* the native parser on a Rust payload: near misses */
				sel--;
				strcat(name, ".native");
				put("fuzz_segments", name, &sel, 1, c->payload, (size_t)c->payload_len);
			}
			rust_rvf_free(r);
		}
		free(buf);
	}
	closedir(dd);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: mkseeds OUTDIR [FIXTURES]\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		fprintf(stderr, "mkseeds: %s: %s\n", outdir, strerror(errno));
		return 1;
	}
	store_seeds();
	hnsw_seeds();
	delta_seeds();
	input_seeds();
	if (argc == 3)
		fixture_seeds(argv[2]);
	return failures ? 1 : 0;
}
