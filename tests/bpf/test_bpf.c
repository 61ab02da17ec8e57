/*
 * test_bpf.c - the query prefilter's loader (user/bpfload): every program
 * through the verifier within a budget; namespace arguments and the user
 * counter slot; ABI, hash, foreign-program and dimension refusals of objects
 * and EBPF segments; pinning, stale pins, counters read from another process
 * and bpftool's view. Packets through the programs are in
 * test_bpf_packets.c, real sockets and XDP on veth in test_bpf_attach.c;
 * what they share in tests/helpers/bpf_fixture.c.
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces), bpftool
 * and ip; a missing one is a SKIP with the reason. Children report through
 * their exit status, never cmocka.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_fixture.h"
#include "codec/ebpf.h"
#include "codec/hash.h"

#define VERIFY_BUDGET 2000u      /* verified insns per program (xdp: about 1100 today) */

static uint8_t dgram[70000], pkt[70000];

static void every_program_verifies_within_budget(void **state)
{
	struct pf_fx *f = *state;
	uint32_t insns[RVF_BPF_NPROGS];
	int i;

	for (i = 0; i < RVF_BPF_NPROGS; i++) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);

		memset(&info, 0, sizeof(info));
		assert_int_equal(bpf_obj_get_info_by_fd(f->fd[i], &info, &len), 0);
		assert_string_equal(info.name, i == RVF_BPF_PROG_XDP_MB ? "xdp_prefilter_m" : pf_prog_names[i]);
		insns[i] = info.verified_insns;
		assert_true(insns[i] > 0);
		if (insns[i] > VERIFY_BUDGET)
			fail_msg("%s: %u verified instructions, budget %u", pf_prog_names[i], insns[i],
				 VERIFY_BUDGET);
		printf("info: %s: %u verified insns, %u xlated bytes, %u jited bytes\n", pf_prog_names[i],
		       insns[i], info.xlated_prog_len, info.jited_prog_len);
	}
}

static void bad_namespace_arguments_are_refused(void **state)
{
	struct pf_fx *f = *state;
	struct rvf_wire_ns ok = { .dim = 8, .elem_type = RVF_WIRE_ELEM_F32 };
	struct rvf_wire_ns bad[] = {
		{ .dim = 0, .elem_type = RVF_WIRE_ELEM_F32 },
		{ .dim = 8, .elem_type = 3 },
		{ .dim = 8, .elem_type = RVF_WIRE_ELEM_F32, .max_k = RVF_WIRE_MAX_K + 1 },
		{ .dim = 8, .elem_type = RVF_WIRE_ELEM_F32, .reserved8 = 1 },
		{ .dim = 8, .elem_type = RVF_WIRE_ELEM_F32, .reserved16 = 1 },
		{ .dim = RVF_WIRE_MAX_DIM + 1, .elem_type = RVF_WIRE_ELEM_I8 },
		{ .dim = RVF_WIRE_MAX_DIM, .elem_type = RVF_WIRE_ELEM_F32 },   /* > one datagram */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rvf_bpf_set_ns(f->b, 1, &bad[i]), -EINVAL);
	assert_int_equal(rvf_bpf_set_ns(f->b, RVF_WIRE_MAX_NS, &ok), -EINVAL);
	assert_int_equal(rvf_bpf_set_ns(f->b, RVF_WIRE_MAX_NS - 1, &ok), 0);
	assert_int_equal(rvf_bpf_set_member(f->b, RVF_WIRE_MAX_NS, true), -EINVAL);
	assert_int_equal(rvf_bpf_set_member(f->b, RVF_WIRE_MAX_NS - 1, true), 0);
	assert_int_equal(rvf_bpf_set_ns(NULL, 1, &ok), -EINVAL);
	assert_int_equal(rvf_bpf_counters(f->b, RVF_WIRE_NSLOTS, &(struct rvf_wire_counters){ 0 }),
			 -EINVAL);
	assert_int_equal(rvf_bpf_prog_fd(f->b, RVF_BPF_NPROGS), -EINVAL);
	{
		int tcp = socket(AF_INET, SOCK_STREAM, 0), null = open("/dev/null", O_RDONLY);

		assert_int_equal(rvf_bpf_attach_socket(f->b, null), -EINVAL);
		assert_int_equal(rvf_bpf_attach_socket(f->b, tcp), -EINVAL);
		close(tcp);
		close(null);
	}
	assert_int_equal(rvf_bpf_attach_xdp(f->b, 1, 7), -EINVAL);
	rvf_bpf_close(NULL);
}

static void user_counters_are_published_in_their_slot(void **state)
{
	struct pf_fx *f = *state;
	struct rvf_wire_counters c = { .passed = 11, .bad_dim = 2, .nonfinite = 3 }, got;

	assert_int_equal(rvf_bpf_set_user_counters(f->b, &c), 0);
	assert_int_equal(rvf_bpf_counters(f->b, RVF_WIRE_SLOT_USER, &got), 0);
	assert_memory_equal(&got, &c, sizeof(c));
	assert_int_equal(rvf_bpf_counters_pinned(f->pin, RVF_WIRE_SLOT_USER, &got), 0);
	assert_memory_equal(&got, &c, sizeof(c));
}

/* ---- object ABI ------------------------------------------------------------------ */

static char *variant_path(const char *name)
{
	char exe[PATH_MAX], *p = NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = 0;
	if (asprintf(&p, "%s/../bpf/test/prefilter_%s.bpf.o", dirname(exe), name) < 0)
		abort();
	return p;
}

static int open_variant(const char *name, char *log_buf, size_t log_len, struct rvf_bpf **b)
{
	char *path = variant_path(name);
	size_t len;
	void *obj = tu_slurp(path, &len);
	struct rvf_bpf_opts o = { .obj = obj, .obj_len = len, .log_buf = log_buf, .log_len = log_len };
	int err;

	pf_log_reset();
	err = rvf_bpf_open(&o, b);
	free(obj);
	free(path);
	return err;
}

static void wrong_abi_version_is_refused(void **state)
{
	struct rvf_bpf *b = NULL;

	(void)state;
	assert_int_equal(open_variant("abi2", NULL, 0, &b), -EPROTO);
	assert_null(b);
	assert_non_null(strstr(rvf_last_error(), "wire ABI 2"));
}

static void missing_map_is_refused(void **state)
{
	struct rvf_bpf *b = NULL;

	(void)state;
	assert_int_equal(open_variant("nomembers", NULL, 0, &b), -EPROTO);
	assert_null(b);
	assert_non_null(strstr(rvf_last_error(), "no map rvf_members"));
}

static void verifier_refusal_reports_its_last_lines(void **state)
{
	struct rvf_bpf *b = NULL;
	char vlog[1024] = "untouched";
	int err;

	(void)state;
	err = open_variant("reject", vlog, sizeof(vlog), &b);
	assert_int_equal(err, -EACCES);
	assert_null(b);
	assert_non_null(strstr(vlog, "invalid mem access"));
	assert_non_null(strstr(rvf_last_error(), "verifier refused sock_prefilter"));
	assert_non_null(strstr(rvf_last_error(), "invalid mem access"));
	assert_non_null(strstr(pf_logbuf, "verifier: "));
}

static void garbage_objects_are_refused(void **state)
{
	struct rvf_bpf *b = NULL;
	struct tu_rng r;
	uint8_t junk[4096];
	size_t len;
	const uint8_t *builtin = rvf_bpf_builtin(&len);
	struct rvf_bpf_opts o = { .obj = junk, .obj_len = sizeof(junk) };

	(void)state;
	tu_rng_init(&r, tu_seed());
	tu_rng_fill(&r, junk, sizeof(junk));
	assert_int_equal(rvf_bpf_open(&o, &b), -EPROTO);
	memcpy(junk, builtin, sizeof(junk));     /* an ELF header, cut short */
	assert_int_equal(rvf_bpf_open(&o, &b), -EPROTO);
	o.obj_len = 0;
	assert_int_equal(rvf_bpf_open(&o, &b), -EINVAL);
	assert_null(b);
	assert_int_equal(rvf_bpf_open(NULL, NULL), -EINVAL);
}

static void builtin_object_and_hash_agree(void **state)
{
	uint8_t h[32], want[32];
	size_t len;
	const void *obj = rvf_bpf_builtin(&len);
	struct rvf_bpf *b = NULL;

	(void)state;
	assert_true(len > 1000);
	assert_memory_equal(obj, "\177ELF", 4);
	rvf_bpf_builtin_hash(h);
	assert_int_equal(sha256(obj, len, want), 0);
	assert_memory_equal(h, want, 32);
	/* all-zero options: the built-in object, default port, no pins */
	assert_int_equal(rvf_bpf_open(NULL, &b), 0);
	rvf_bpf_close(b);
}

/* ---- EBPF segments ------------------------------------------------------------------ */

static void segment_round_trips_through_a_store(void **state)
{
	char *dir = tu_tmpdir(), *path = tu_path(dir, "s.rvf");
	struct rvf_store_opts so = { .dimension = 8 };
	struct rvf_ebpf_opts eo = { .program_type = RVF_EBPF_PROG_SOCKET_FILTER,
				    .attach_type = RVF_EBPF_ATTACH_SOCKET_FILTER,
				    .max_dimension = RVF_WIRE_MAX_DIM };
	struct rvf_store *s = NULL;
	struct rvf_ebpf_hdr h;
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .port = TEST_PORT };
	size_t len, plen = 0;
	const void *obj = rvf_bpf_builtin(&len);
	void *prog = NULL;
	uint8_t bh[32];
	size_t n;

	(void)state;
	assert_int_equal(rvf_store_create(path, &so, &s), 0);
	assert_int_equal(rvf_store_embed_ebpf(s, &eo, obj, len, NULL, 0, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(rvf_store_open_readonly(path, NULL, &s), 0);
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &prog, &plen, NULL, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(plen, len);
	assert_memory_equal(prog, obj, len);
	assert_int_equal(h.program_type, RVF_EBPF_PROG_SOCKET_FILTER);
	assert_int_equal(h.max_dimension, RVF_WIRE_MAX_DIM);
	assert_int_equal(h.map_count, 5);   /* rvf_ns, rvf_members, rvf_counters, rvf_xsks, rvf_xsks_sg */
	assert_true(h.insn_count > 100);
	rvf_bpf_builtin_hash(bh);
	assert_memory_equal(h.program_hash, bh, 32);

	assert_int_equal(rvf_bpf_check_segment(&h, prog, plen, 8, false), 0);
	o.obj = prog;
	o.obj_len = plen;
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	pf_configure(b);
	n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
	assert_int_equal(pf_run(rvf_bpf_prog_fd(b, RVF_BPF_PROG_SOCK), pkt, pf_frame_sock(pkt, dgram, n)),
			 8 + n);
	n = pf_query(dgram, NS_F32, F_DIM, 7, 1);
	assert_int_equal(pf_run(rvf_bpf_prog_fd(b, RVF_BPF_PROG_SOCK), pkt, pf_frame_sock(pkt, dgram, n)), 0);
	rvf_bpf_close(b);
	free(prog);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

static void bad_segments_are_refused(void **state)
{
	struct ebpf_spec spec = { .program_type = RVF_EBPF_PROG_SOCKET_FILTER,
				  .attach_type = RVF_EBPF_ATTACH_SOCKET_FILTER, .max_dimension = 1536 };
	struct rvf_ebpf_hdr h, x;
	size_t len, flen;
	const void *obj = rvf_bpf_builtin(&len);
	uint8_t *copy = malloc(len);
	char *fpath = variant_path("abi2");
	void *foreign = tu_slurp(fpath, &flen);

	(void)state;
	assert_int_equal(ebpf_hdr_build(&spec, obj, len, 0, &h), 0);
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len, 1536, false), 0);
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len, 8, false), 0);
	/* header fields */
	x = h; x.magic ^= 1;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -EPROTO);
	x = h; x.header_version = 2;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -EPROTO);
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len - 1, 8, false), -EPROTO);
	x = h; x.program_type = RVF_EBPF_PROG_KPROBE;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -EPROTO);
	x = h; x.program_type = RVF_EBPF_PROG_XDP_DISTANCE;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), 0);
	/* a damaged program: hash mismatch, even when foreign code is trusted */
	memcpy(copy, obj, len);
	copy[len / 2] ^= 0x40;
	pf_log_reset();
	assert_int_equal(rvf_bpf_check_segment(&h, copy, len, 8, false), -EBADMSG);
	assert_int_equal(rvf_bpf_check_segment(&h, copy, len, 8, true), -EBADMSG);
	assert_non_null(strstr(rvf_last_error(), "SHA-256"));
	/* dimension */
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len, 1537, false), -ERANGE);
	x = h; x.max_dimension = 0;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -ERANGE);
	/* a self-consistent program that is not the built-in one */
	assert_int_equal(ebpf_hdr_build(&spec, foreign, flen, 0, &x), 0);
	assert_int_equal(rvf_bpf_check_segment(&x, foreign, flen, 8, false), -EPERM);
	assert_non_null(strstr(rvf_last_error(), "other than the prefilter"));
	assert_int_equal(rvf_bpf_check_segment(&x, foreign, flen, 8, true), 0);
	assert_int_equal(rvf_bpf_check_segment(&x, foreign, flen, 2000, true), -ERANGE);
	assert_int_equal(rvf_bpf_check_segment(NULL, obj, len, 8, false), -EINVAL);
	free(copy);
	free(foreign);
	free(fpath);
}

static void cli_embeds_the_builtin_prefilter(void **state)
{
	char exe[PATH_MAX], *cmd = NULL, *dir = tu_tmpdir(), *path = tu_path(dir, "c.rvf");
	struct rvf_store_opts so = { .dimension = 96 };
	struct rvf_store *s = NULL;
	struct rvf_ebpf_hdr h;
	void *prog = NULL;
	size_t plen = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	assert_true(n > 0);
	exe[n] = 0;
	assert_int_equal(rvf_store_create(path, &so, &s), 0);
	assert_int_equal(rvf_store_close(s), 0);
	if (asprintf(&cmd, "%s/../bin/rvf embed-ebpf %s --builtin", dirname(exe), path) < 0)
		abort();
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rvf_store_open_readonly(path, NULL, &s), 0);
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &prog, &plen, NULL, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(h.program_type, RVF_EBPF_PROG_SOCKET_FILTER);
	assert_int_equal(h.attach_type, RVF_EBPF_ATTACH_SOCKET_FILTER);
	assert_int_equal(h.max_dimension, RVF_WIRE_MAX_DIM);
	assert_int_equal(rvf_bpf_check_segment(&h, prog, plen, 96, false), 0);
	free(prog);
	free(cmd);
	tu_rmrf(dir);
	free(dir);
	free(path);
}
/* ---- pinning ---------------------------------------------------------------------- */

static void pins_are_named_and_removed_on_close(void **state)
{
	char dir[96];
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = dir };
	struct stat st;
	size_t i;

	(void)state;
	pf_pin_dir_name(dir, sizeof(dir));
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	for (i = 0; i < pf_npins; i++)
		if (!pf_is_pinned(dir, pf_pins[i]))
			fail_msg("%s/%s is not pinned", dir, pf_pins[i]);
	rvf_bpf_close(b);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* a pin dir below a missing parent is created whole, and goes on close
	 * (the parent, shared by instances, stays) */
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/deeper/inst");
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	assert_true(pf_is_pinned(dir, "rvf_counters"));
	rvf_bpf_close(b);
	assert_int_equal(stat(dir, &st), -1);
	*strrchr(dir, '/') = 0;
	assert_int_equal(rmdir(dir), 0);
	*strrchr(dir, '/') = 0;
	assert_int_equal(rmdir(dir), 0);
}

static void bad_pin_dirs_are_refused(void **state)
{
	char *tmp = tu_tmpdir(), *sub = tu_path(tmp, "pins");
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = sub };

	(void)state;
	assert_int_equal(rvf_bpf_open(&o, &b), -EINVAL);     /* not on bpffs */
	assert_non_null(strstr(rvf_last_error(), "not on a bpf filesystem"));
	o.pin_dir = "relative/dir";
	assert_int_equal(rvf_bpf_open(&o, &b), -EINVAL);
	assert_null(b);
	tu_rmrf(tmp);
	free(tmp);
	free(sub);
}

static void second_instance_on_a_pin_dir_is_busy(void **state)
{
	char dir[96];
	struct rvf_bpf *a = NULL, *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = dir };

	(void)state;
	pf_pin_dir_name(dir, sizeof(dir));
	assert_int_equal(rvf_bpf_open(&o, &a), 0);
	assert_int_equal(rvf_bpf_open(&o, &b), -EBUSY);
	assert_null(b);
	assert_true(pf_is_pinned(dir, "rvf_counters"));    /* the live one's pins stay */
	rvf_bpf_close(a);
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	rvf_bpf_close(b);
}

static void stale_pins_of_a_dead_instance_are_replaced(void **state)
{
	char dir[96];
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = dir, .port = TEST_PORT };
	struct rvf_wire_counters c;
	size_t i, n;
	int st;
	pid_t pid;

	(void)state;
	pf_pin_dir_name(dir, sizeof(dir));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rvf_bpf *d = NULL;

		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .repeat = 1);

		if (rvf_bpf_open(&o, &d) || pf_configure_ns(d))
			_exit(1);
		n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
		t.data_size_in = (uint32_t)pf_frame_sock(pkt, dgram, n);
		if (bpf_prog_test_run_opts(rvf_bpf_prog_fd(d, RVF_BPF_PROG_SOCK), &t) || !t.retval)
			_exit(2);
		_exit(0);       /* dies without closing: pins stay behind */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (i = 0; i < pf_npins; i++)
		assert_true(pf_is_pinned(dir, pf_pins[i]));
	assert_int_equal(rvf_bpf_counters_pinned(dir, RVF_WIRE_SLOT_SOCK, &c), 0);
	assert_int_equal(c.passed, 1);          /* the dead one's counters, readable */
	pf_log_reset();
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	assert_non_null(strstr(pf_logbuf, "replaced a pin left behind"));
	assert_int_equal(rvf_bpf_counters_pinned(dir, RVF_WIRE_SLOT_SOCK, &c), 0);
	assert_int_equal(c.passed, 0);          /* now this instance's */
	rvf_bpf_close(b);
	assert_int_equal(rvf_bpf_counters_pinned(dir, RVF_WIRE_SLOT_SOCK, &c), -ENOENT);
}

static void pinned_counters_match_from_another_process(void **state)
{
	struct pf_fx *f = *state;
	struct rvf_wire_counters mine, theirs;
	int p[2], st;
	size_t n;
	pid_t pid;

	n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
	pf_run(f->fd[RVF_BPF_PROG_XDP], pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ 0 }, dgram, n));
	n = pf_query(dgram, NS_F32, F_VERSION, 9, 1);
	pf_run(f->fd[RVF_BPF_PROG_XDP], pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ 0 }, dgram, n));
	pf_run(f->fd[RVF_BPF_PROG_XDP_MB], pkt, pf_frame_arp(pkt));
	assert_int_equal(rvf_bpf_counters(f->b, RVF_WIRE_SLOT_XDP, &mine), 0);
	assert_int_equal(mine.passed, 1);
	assert_int_equal(mine.bad_version, 1);
	assert_int_equal(mine.other_passed, 1);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (rvf_bpf_counters_pinned(f->pin, RVF_WIRE_SLOT_XDP, &theirs) ||
		    write(p[1], &theirs, sizeof(theirs)) != (ssize_t)sizeof(theirs))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &theirs, sizeof(theirs)), sizeof(theirs));
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_memory_equal(&mine, &theirs, sizeof(mine));
	assert_int_equal(rvf_bpf_counters_pinned("/sys/fs/bpf/rvf-test-none", 0, &theirs), -ENOENT);
}

/* Run a shell command, return its stdout (owned). */
static char *sh_out(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n = 0, r;

	assert_non_null(p);
	while ((r = fread(buf + n, 1, (1 << 20) - 1 - n, p)) > 0)
		n += r;
	assert_int_equal(pclose(p), 0);
	return buf;
}

static void bpftool_shows_named_counters_and_programs(void **state)
{
	struct pf_fx *f = *state;
	char cmd[256];
	char *out;
	unsigned i;

	pf_run(f->fd[RVF_BPF_PROG_SOCK], pkt, pf_frame_sock(pkt, dgram, pf_query(dgram, NS_F32, F_NONE, 0, 1)));
	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/rvf_counters", f->pin);
	out = sh_out(cmd);
	for (i = 0; i < NCOUNT; i++) {
		char want[64];

		snprintf(want, sizeof(want), "\"%s\": ", pf_counter_names[i]);
		if (!strstr(out, want))
			fail_msg("bpftool map dump has no %s field:\n%s", want, out);
	}
	assert_non_null(strstr(out, "\"passed\": 1"));
	free(out);
	for (i = 0; i < RVF_BPF_NPROGS; i++) {
		char want[64];

		snprintf(cmd, sizeof(cmd), "bpftool prog show pinned %s/%s", f->pin, pf_prog_names[i]);
		out = sh_out(cmd);
		snprintf(want, sizeof(want), "name %s ", pf_prog_names[i]);
		if (!strstr(out, want))
			fail_msg("bpftool prog show does not name %s:\n%s", pf_prog_names[i], out);
		free(out);
	}
	snprintf(cmd, sizeof(cmd), "bpftool map show pinned %s/rvf_members", f->pin);
	out = sh_out(cmd);
	assert_non_null(strstr(out, "name rvf_members"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_program_verifies_within_budget, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(bad_namespace_arguments_are_refused, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(user_counters_are_published_in_their_slot, pf_setup, pf_teardown),
		cmocka_unit_test(wrong_abi_version_is_refused),
		cmocka_unit_test(missing_map_is_refused),
		cmocka_unit_test(verifier_refusal_reports_its_last_lines),
		cmocka_unit_test(garbage_objects_are_refused),
		cmocka_unit_test(builtin_object_and_hash_agree),
		cmocka_unit_test(segment_round_trips_through_a_store),
		cmocka_unit_test(bad_segments_are_refused),
		cmocka_unit_test(cli_embeds_the_builtin_prefilter),
		cmocka_unit_test(pins_are_named_and_removed_on_close),
		cmocka_unit_test(bad_pin_dirs_are_refused),
		cmocka_unit_test(second_instance_on_a_pin_dir_is_busy),
		cmocka_unit_test(stale_pins_of_a_dead_instance_are_replaced),
		cmocka_unit_test_setup_teardown(pinned_counters_match_from_another_process, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(bpftool_shows_named_counters_and_programs, pf_setup, pf_teardown),
	};

	tu_seed();
	rvf_set_log(pf_capture_log, NULL, RVF_LOG_INFO);
	pf_require_privileges();
	return cmocka_run_group_tests_name("bpf", tests, NULL, NULL);
}
