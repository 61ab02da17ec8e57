/*
 * test_cli_admin.c - the `rvf` CLI end to end (see test_cli.c): segments and
 * verify, derive, kernel and eBPF payloads, a locked store and a read-only
 * file system, import of every Rust fixture, dump output ingested back bit
 * for bit.
 *
 * The binary: $RVF_BIN, else ../bin/rvf next to this test binary (make puts
 * tests in build/tests/ and tools in build/bin/). Fixtures for `rvf import`:
 * $RVF_FIXTURES, else tests/fixtures/rvf-reference (tu_fixture_dir).
 *
 * rvf-test: both-backends   (tests/run.sh runs this with RVF_IO=uring and
 * RVF_IO=syscall; the child processes inherit it)
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "testutil.h"
#include "rvf/rvf.h"
#include "cli_fixture.h"
#include "rust_fixtures.h"
#define RVF_RO(...) cf_run_argv(RUN_RDONLY_FS, (char *const[]){ __VA_ARGS__, NULL })

/* ---- segments, verify ----------------------------------------------------- */

static void segments_list_and_verify_catches_corruption(void **state)
{
	float *v;
	json_t *a, *seg;
	json_error_t je;
	size_t i;
	long long off = -1, len = 0;
	int fd;
	uint8_t byte;

	(void)state;
	v = cf_make_store("s.rvf", 500, "l2");
	OK("segments", "s.rvf");
	EXPECT_OUT("segments");
	OK("segments", "s.rvf", "--json");
	a = json_loads(cf_R.out, 0, &je);
	assert_non_null(a);
	assert_true(json_array_size(a) > 0);
	json_array_foreach(a, i, seg) {
		assert_true(json_is_string(json_object_get(seg, "type")));
		assert_true(json_is_integer(json_object_get(seg, "file_offset")));
		/* the largest segment holds the vectors */
		if (json_integer_value(json_object_get(seg, "payload_len")) > len) {
			len = json_integer_value(json_object_get(seg, "payload_len"));
			off = json_integer_value(json_object_get(seg, "file_offset"));
		}
	}
	json_decref(a);
	assert_true(off > 0 && len > 1000);
	OK("verify", "s.rvf");
	EXPECT_OUT("OK");

	/* flip one byte in the middle of that payload */
	fd = open(cf_tpath("s.rvf"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, off + 64 + len / 2), 1);
	byte ^= 0x5a;
	assert_int_equal(pwrite(fd, &byte, 1, off + 64 + len / 2), 1);
	close(fd);
	RVF("verify", "s.rvf");
	assert_int_not_equal(cf_R.code, 0);
	EXPECT_ERR("s.rvf");

	/* not an rvf file at all */
	cf_write_bytes("junk.rvf", "this is not a store, just text padding it out to a size", 56);
	RVF("verify", "junk.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("junk.rvf");
	RVF("status", "junk.rvf");
	EXPECT_CODE(1);
	free(v);
}

/* ---- derive --------------------------------------------------------------- */

static void derive_records_parent_and_type(void **state)
{
	json_t *p, *c;
	float *v;

	(void)state;
	v = cf_make_store("p.rvf", 50, "cosine");
	OK("derive", "p.rvf", "c.rvf", "--type", "filter");
	p = cf_status_json("p.rvf");
	c = cf_status_json("c.rvf");
	assert_int_equal(cf_jint(c, "lineage_depth"), 1);
	assert_string_equal(cf_jstr(c, "parent_id"), cf_jstr(p, "file_id"));
	assert_string_not_equal(cf_jstr(c, "file_id"), cf_jstr(p, "file_id"));
	assert_string_equal(cf_jstr(c, "derivation"), "filter");
	assert_string_equal(cf_jstr(c, "metric"), "cosine");
	assert_int_equal(cf_jint(c, "dimension"), 8);
	assert_int_equal(cf_jint(c, "live_vectors"), 0);
	assert_int_equal(strlen(cf_jstr(c, "parent_hash")), 64);
	json_decref(c);

	OK("derive", "c.rvf", "g.rvf");
	c = cf_status_json("g.rvf");
	assert_int_equal(cf_jint(c, "lineage_depth"), 2);
	assert_string_equal(cf_jstr(c, "derivation"), "clone");
	json_decref(c);
	json_decref(p);

	RVF("derive", "p.rvf", "x.rvf", "--type", "teleport");
	EXPECT_CODE(2);
	RVF("derive", "p.rvf", "c.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("c.rvf");
	free(v);
}

/* ---- kernel and eBPF ------------------------------------------------------ */

static void kernel_embed_extract_round_trip(void **state)
{
	uint8_t img[9000];
	char *back;
	size_t blen;
	float *v;

	(void)state;
	v = cf_make_store("s.rvf", 20, "l2");
	tu_rng_fill(&cf_rng, img, sizeof(img));
	cf_write_bytes("bzImage", img, sizeof(img));
	RVF("extract-kernel", "s.rvf", "out.bin");
	EXPECT_CODE(1);
	EXPECT_ERR("no kernel");

	OK("embed-kernel", "s.rvf", "bzImage", "--arch", "aarch64", "--cmdline", "console=ttyS0 quiet",
	   "--api-port", "8080", "--api-transport", "vsock", "--vcpus", "2", "--min-memory", "256",
	   "--flags", "networking,query-api", "--bind");
	OK("extract-kernel", "s.rvf", "out.bin");
	back = cf_slurp(cf_tpath("out.bin"), &blen);
	assert_int_equal(blen, sizeof(img));
	assert_memory_equal(back, img, sizeof(img));
	free(back);
	EXPECT_OUT("aarch64");
	EXPECT_OUT("port 8080");
	EXPECT_OUT("vsock");
	EXPECT_OUT("\"console=ttyS0 quiet\"");
	EXPECT_OUT("binding version 1");
	OK("segments", "s.rvf");
	EXPECT_OUT("KERNEL");
	OK("verify", "s.rvf");

	/* the newest kernel wins; the store's vectors are untouched */
	img[0] ^= 1;
	cf_write_bytes("bzImage2", img, 100);
	OK("embed-kernel", "s.rvf", "bzImage2");
	OK("extract-kernel", "s.rvf", "out2.bin");
	back = cf_slurp(cf_tpath("out2.bin"), &blen);
	assert_int_equal(blen, 100);
	assert_memory_equal(back, img, 100);
	free(back);
	assert_int_equal(cf_live_count("s.rvf"), 20);

	RVF("extract-kernel", "s.rvf", "no/such/dir/out.bin");
	EXPECT_CODE(1);
	EXPECT_ERR("no/such/dir/out.bin");
	RVF("embed-kernel", "s.rvf", "absent.img");
	EXPECT_CODE(1);
	EXPECT_ERR("absent.img");
	RVF("embed-kernel", "s.rvf", "bzImage", "--arch", "sparc");
	EXPECT_CODE(2);
	EXPECT_ERR("sparc");
	RVF("embed-kernel", "s.rvf", "bzImage", "--api-port", "70000");
	EXPECT_CODE(2);
	RVF("embed-kernel", "s.rvf", "bzImage", "--policy-hash", "abc");
	EXPECT_CODE(2);
	free(v);
}

static void ebpf_embed_extract_round_trip(void **state)
{
	char cmd[PATH_MAX * 2];
	char *prog, *back;
	size_t plen, blen;
	float *v;
	FILE *f;

	(void)state;
	v = cf_make_store("s.rvf", 20, "l2");
	f = fopen(cf_tpath("p.bpf.c"), "w");
	fprintf(f, "#include <linux/bpf.h>\n"
		   "__attribute__((section(\"xdp\"), used)) int xdp_pass(struct xdp_md *ctx)\n"
		   "{ return ctx->data_end > ctx->data ? XDP_PASS : XDP_DROP; }\n"
		   "char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu "
		 "-c p.bpf.c -o p.bpf.o", cf_dir);
	if (system(cmd) != 0)
		fail_msg("clang -target bpf failed (tools/deps.sh installs clang)");
	cf_write_bytes("btf.bin", "\x9f\xeb\x01\x00btf-bytes", 13);

	RVF("extract-ebpf", "s.rvf", "out.o");
	EXPECT_CODE(1);
	EXPECT_ERR("no eBPF");
	OK("embed-ebpf", "s.rvf", "p.bpf.o", "--type", "xdp", "--max-dim", "8", "--btf", "btf.bin");
	OK("extract-ebpf", "s.rvf", "out.o", "--btf-out", "out.btf");
	prog = cf_slurp(cf_tpath("p.bpf.o"), &plen);
	back = cf_slurp(cf_tpath("out.o"), &blen);
	assert_int_equal(blen, plen);
	assert_memory_equal(back, prog, plen);
	free(back);
	back = cf_slurp(cf_tpath("out.btf"), &blen);
	assert_int_equal(blen, 13);
	assert_memory_equal(back, "\x9f\xeb\x01\x00btf-bytes", 13);
	free(back);
	free(prog);
	EXPECT_OUT("type xdp");
	EXPECT_OUT("attach xdp-ingress");
	EXPECT_OUT("max dimension 8");
	OK("segments", "s.rvf");
	EXPECT_OUT("EBPF");

	/* not an ELF object */
	cf_write_bytes("text.o", "hello, not an ELF file", 22);
	RVF("embed-ebpf", "s.rvf", "text.o");
	EXPECT_CODE(1);
	EXPECT_ERR("text.o");
	RVF("embed-ebpf", "s.rvf", "p.bpf.o", "--type", "lsm");
	EXPECT_CODE(2);
	RVF("embed-ebpf", "s.rvf", "p.bpf.o", "--max-dim", "0");
	EXPECT_CODE(2);
	free(v);
}

/* ---- locks and read-only file systems ------------------------------------- */

static void locked_store_fails_writers_and_serves_readers(void **state)
{
	struct rvf_store *s;
	float *v;

	(void)state;
	v = cf_make_store("s.rvf", 100, "l2");
	cf_write_fvecs("more.fvecs", v, 10, 8);
	/* this process holds the writer lock */
	assert_int_equal(rvf_store_open(cf_tpath("s.rvf"), NULL, &s), 0);

	cf_run_env[0] = "RVF_LOCK_TIMEOUT_MS=200";
	cf_run_env[1] = NULL;
	RVF("ingest", "s.rvf", "more.fvecs", "--ids-from", "1000");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	EXPECT_ERR("lock");
	RVF("delete", "s.rvf", "--ids", "1", "--lock-timeout", "100");
	EXPECT_CODE(1);
	RVF("compact", "s.rvf");
	EXPECT_CODE(1);
	cf_write_bytes("img.bin", "kernel image", 12);
	RVF("embed-kernel", "s.rvf", "img.bin");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	RVF("embed-ebpf", "s.rvf", "img.bin");
	EXPECT_CODE(1);
	/* readers take no lock */
	OK("status", "s.rvf");
	EXPECT_OUT("live vectors    100");
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0");
	OK("dump", "s.rvf");
	OK("verify", "s.rvf");

	assert_int_equal(rvf_store_close(s), 0);
	OK("ingest", "s.rvf", "more.fvecs", "--ids-from", "1000");
	assert_int_equal(cf_live_count("s.rvf"), 110);
	free(v);
}

static void read_only_file_system_fails_writers_and_serves_readers(void **state)
{
	float *v;

	(void)state;
	v = cf_make_store("s.rvf", 100, "l2");
	RVF_RO("status", "s.rvf");
	if (cf_R.code == 122)
		skip();   /* no mount namespace here (needs CAP_SYS_ADMIN) */
	EXPECT_CODE(0);
	EXPECT_OUT("live vectors    100");
	RVF_RO("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--k", "3");
	EXPECT_CODE(0);
	RVF_RO("dump", "s.rvf");
	EXPECT_CODE(0);
	RVF_RO("ingest", "s.rvf", "base.fvecs", "--ids-from", "500");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	RVF_RO("delete", "s.rvf", "--ids", "1");
	EXPECT_CODE(1);
	RVF_RO("create", "new.rvf", "--dim", "4");
	EXPECT_CODE(1);
	EXPECT_ERR("new.rvf");
	RVF_RO("compact", "s.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	RVF_RO("derive", "s.rvf", "child.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("child.rvf");
	cf_write_bytes("img.bin", "kernel image", 12);
	RVF_RO("embed-kernel", "s.rvf", "img.bin");
	EXPECT_CODE(1);
	if (cf_fixture_dir[0]) {
		char src[PATH_MAX + 32];

		snprintf(src, sizeof(src), "%s/basic_store.rvf", cf_fixture_dir);
		RVF_RO("import", src, "imp.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("imp.rvf");
	}
	RVF_RO("verify", "s.rvf");
	EXPECT_CODE(0);
	RVF_RO("segments", "s.rvf", "--json");
	EXPECT_CODE(0);
	assert_int_equal(cf_live_count("s.rvf"), 100);
	free(v);
}

/* ---- import --------------------------------------------------------------- */

/* README's digest: SHA-256 over (id u64 LE, f32 values) of live vectors by id. */
static void live_sha16(const struct dumped *d, char out[17])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t md[32];
	unsigned mdlen;

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	for (size_t i = 0; i < d->n; i++) {
		EVP_DigestUpdate(c, &d->id[i], 8);
		EVP_DigestUpdate(c, d->v + i * d->dim, d->dim * 4);
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 8; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void import_reproduces_every_rust_fixture(void **state)
{
	(void)state;
	if (!cf_fixture_dir[0])
		skip();
	for (size_t i = 0; i < RUST_N_FIXTURES; i++) {
		char src[PATH_MAX * 2], dst[64], sha[17];
		struct dumped d;
		json_t *o;

		snprintf(src, sizeof(src), "%s/%s", cf_fixture_dir, rust_fixtures[i].file);
		snprintf(dst, sizeof(dst), "imp%zu.rvf", i);
		OK("import", src, dst);
		o = cf_status_json(dst);
		assert_int_equal(cf_jint(o, "dimension"), rust_fixtures[i].dim);
		assert_int_equal(cf_jint(o, "live_vectors"), rust_fixtures[i].live);
		if (!strcmp(rust_fixtures[i].file, "lineage_child.rvf")) {
			assert_int_equal(cf_jint(o, "lineage_depth"), 1);
			assert_string_equal(cf_jstr(o, "parent_id"), "183dabe5dce50c9a4ee02b2db6313cb9");
		}
		if (!strcmp(rust_fixtures[i].file, "lineage_parent.rvf"))
			assert_string_equal(cf_jstr(o, "file_id"), "183dabe5dce50c9a4ee02b2db6313cb9");
		json_decref(o);
		cf_dump_store(dst, &d);
		assert_int_equal(d.n, rust_fixtures[i].live);
		live_sha16(&d, sha);
		assert_string_equal(sha, rust_fixtures[i].live_sha16);
		cf_dumped_free(&d);
		/* the Rust file itself opens read-only with the same contents */
		cf_dump_store(src, &d);
		live_sha16(&d, sha);
		assert_string_equal(sha, rust_fixtures[i].live_sha16);
		cf_dumped_free(&d);
		OK("verify", dst);
		if (!strcmp(rust_fixtures[i].file, "linux_microkernel.rvf")) {
			OK("segments", dst);
			EXPECT_OUT("KERNEL");
		}
		if (!strcmp(rust_fixtures[i].file, "ebpf_accelerator.rvf")) {
			OK("segments", dst);
			EXPECT_OUT("EBPF");
		}
	}
	/* garbage, truncated, existing destination */
	cf_write_bytes("garbage.rvf", "SFVRgarbage garbage garbage garbage garbage garbage garbage garbage", 67);
	RVF("import", "garbage.rvf", "g.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("garbage.rvf");
	assert_int_equal(access(cf_tpath("g.rvf"), F_OK), -1);
	{
		char src[PATH_MAX * 2];
		size_t n;
		char *b;

		snprintf(src, sizeof(src), "%s/basic_store.rvf", cf_fixture_dir);
		b = cf_slurp(src, &n);
		cf_write_bytes("trunc.rvf", b, n / 2);
		free(b);
		RVF("import", "trunc.rvf", "t.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("trunc.rvf");
		RVF("import", src, "imp0.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("imp0.rvf: already exists");
		RVF("import", src, "x.rvf", "--metric", "manhattan");
		EXPECT_CODE(2);
		/* a native store is not imported again; a Rust file is not
		 * written, and the error says how to get a writable copy */
		RVF("import", "imp0.rvf", "again.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("already a native rvf store");
		assert_int_equal(access(cf_tpath("again.rvf"), F_OK), -1);
		cf_write_bytes("one.csv", "1,2,3\n", 6);
		RVF("ingest", src, "one.csv");
		EXPECT_CODE(1);
		EXPECT_ERR("rvf import");
		/* an eBPF payload that is not an ELF object is named as such */
		RVF("embed-ebpf", "imp0.rvf", "one.csv");
		EXPECT_CODE(1);
		EXPECT_ERR("not an eBPF ELF object");
	}
}

/* dump's output is ingest's input: ids past INT64_MAX, -0.0 and values that
 * need all nine digits come back bit for bit through dump -> ingest -> dump. */
static void dump_output_ingests_back_bit_for_bit(void **state)
{
	size_t a_len, b_len;
	char *a, *b;

	static const char edge[] =
		    "{\"id\":\"18446744073709551615\",\"vector\":[-0.0,1.17549435e-38,3.40282347e+38]}\n"
		    "{\"id\":\"9223372036854775808\",\"vector\":[0.1,-0.0,-1e-45]}\n"
		    "{\"id\":7,\"vector\":[0,0.333333343,-2.5],\"meta\":{\"0\":{\"u64\":\"18446744073709551615\"}}}\n";

	(void)state;
	cf_write_bytes("edge.jsonl", edge, strlen(edge));
	OK("create", "e1.rvf", "--dim", "3");
	OK("ingest", "e1.rvf", "edge.jsonl");
	RVF("dump", "e1.rvf");
	EXPECT_CODE(0);
	a = strdup(cf_R.out);
	a_len = cf_R.out_len;
	cf_write_bytes("edge2.jsonl", a, a_len);
	OK("create", "e2.rvf", "--dim", "3");
	OK("ingest", "e2.rvf", "edge2.jsonl", "--format", "jsonl");
	RVF("dump", "e2.rvf");
	EXPECT_CODE(0);
	b = cf_R.out;
	b_len = cf_R.out_len;
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
	assert_non_null(strstr(a, "\"id\":\"18446744073709551615\""));
	assert_non_null(strstr(a, "-0.0"));
	free(a);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(segments_list_and_verify_catches_corruption, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(derive_records_parent_and_type, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(kernel_embed_extract_round_trip, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(ebpf_embed_extract_round_trip, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(locked_store_fails_writers_and_serves_readers, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(read_only_file_system_fails_writers_and_serves_readers, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(import_reproduces_every_rust_fixture, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(dump_output_ingests_back_bit_for_bit, cf_setup, cf_teardown),
	};

	(void)argc;
	if (cf_suite_init(argv[0]))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
