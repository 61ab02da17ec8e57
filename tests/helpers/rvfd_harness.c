/*
 * rvfd_harness.c - the end-to-end harness for tests that run the real rvfd
 * (tests/e2e): see rvfd_harness.h.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <unistd.h>

#include "rvfd_harness.h"

char rvfd_bin[PATH_MAX];

void fill_vectors(float *v, size_t n, uint32_t dim, uint64_t s)
{
	struct tu_rng r;

	tu_rng_init(&r, s);
	for (size_t i = 0; i < n * dim; i++)
		v[i] = (float)tu_rng_unit(&r) * 2.0f - 1.0f;
}

void build_store(const char *path, size_t n, uint32_t dim, uint64_t s, bool meta)
{
	struct rvf_store_opts o = { .dimension = dim, .seed = 7 };
	struct rvf_store *st = NULL;
	float *v = malloc(n * dim * sizeof(float));
	struct rvf_vector *vv = calloc(n, sizeof(*vv));
	struct rvf_meta_entry *m = calloc(n, sizeof(*m));
	struct rvf_ingest_result res = { 0 };

	assert_non_null(v);
	fill_vectors(v, n, dim, s);
	for (size_t i = 0; i < n; i++) {
		vv[i] = (struct rvf_vector){ .id = i, .values = v + i * dim, .dim = dim };
		if (meta) {
			m[i] = (struct rvf_meta_entry){ .field_id = 0, .value = rvf_meta_u64(i % 10) };
			vv[i].meta = &m[i];
			vv[i].n_meta = 1;
		}
	}
	assert_int_equal(rvf_store_create(path, &o, &st), 0);
	assert_int_equal(rvf_store_ingest_batch(st, vv, n, &res), 0);
	assert_int_equal(res.accepted, n);
	rvf_ingest_result_release(&res);
	assert_int_equal(rvf_store_close(st), 0);
	free(v);
	free(vv);
	free(m);
}

/* ---- the daemon ----------------------------------------------------------- */

static struct daemon *live_daemons[8];

/* A daemon killed with SIGKILL (a failed test) cannot unpin: remove its
 * pins so nothing of this run stays loaded. */
void remove_pins(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;

	while (dp && (e = readdir(dp))) {
		char path[400];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (dp) {
		closedir(dp);
		rmdir(dir);
	}
}

void kill_leftovers(void)
{
	for (int i = 0; i < 8; i++)
		if (live_daemons[i] && live_daemons[i]->pid > 0) {
			kill(live_daemons[i]->pid, SIGKILL);
			waitpid(live_daemons[i]->pid, NULL, 0);
			live_daemons[i]->pid = 0;
			remove_pins(live_daemons[i]->pin_dir);
			live_daemons[i] = NULL;
		}
}

void track(struct daemon *d, bool on)
{
	for (int i = 0; i < 8; i++)
		if (on ? !live_daemons[i] : live_daemons[i] == d) {
			live_daemons[i] = on ? d : NULL;
			return;
		}
}

void read_text(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, cap - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* In the child: io_uring_setup fails with ENOSYS from now on, across exec. */
static void deny_io_uring(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = { .len = sizeof(prog) / sizeof(prog[0]), .filter = prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp))
		_exit(124);
}

/* Start rvfd with args (NULL-terminated); returns its exit status if it
 * exited before "ready" (then d->pid is 0), else -1 with d->port set. */
int daemon_start(const char *dir, struct daemon *d, const struct start *s, char *const *args)
{
	char *argv[56];
	char nsarg[PATH_MAX + 8];
	int n = 0, st;
	bool named = false;
	static int seq;

	memset(d, 0, sizeof(*d));
	snprintf(d->out, sizeof(d->out), "%s/rvfd-%d.out", dir, seq);
	snprintf(d->err, sizeof(d->err), "%s/rvfd-%d.err", dir, seq);
	/* every daemon its own instance (and so pin dir), unless the test names one */
	snprintf(d->instance, sizeof(d->instance), "t%d-%d", (int)getpid(), seq++);
	snprintf(d->pin_dir, sizeof(d->pin_dir), "/sys/fs/bpf/rvf/%s", d->instance);
	if (s && s->netns) {
		snprintf(nsarg, sizeof(nsarg), "--net=/run/netns/%s", s->netns);
		argv[n++] = "nsenter";
		argv[n++] = nsarg;
		argv[n++] = "--";
	}
	if (s && s->as_nobody) {
		argv[n++] = "setpriv";
		argv[n++] = "--reuid=65534";
		argv[n++] = "--regid=65534";
		argv[n++] = "--clear-groups";
		argv[n++] = "--inh-caps=-all";
		argv[n++] = "--bounding-set=-all";
		argv[n++] = "--";
	}
	argv[n++] = rvfd_bin;
	for (int i = 0; args[i]; i++) {
		assert_true(n < 50);
		if (!strcmp(args[i], "--instance") || !strcmp(args[i], "--help") || !strcmp(args[i], "--no-bpf") ||
		    !strcmp(args[i], "--pin-dir"))
			named = true;
		argv[n++] = args[i];
	}
	if (!named) {
		argv[n++] = "--instance";
		argv[n++] = d->instance;
	}
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		int o = open(d->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(d->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (o < 0 || e < 0 || in < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(120);
		unsetenv("RVF_IO");
		if (s && s->io)
			setenv("RVF_IO", s->io, 1);
		if (s && s->wrap == WRAP_NO_URING)
			deny_io_uring();
		execvp(argv[0], argv);
		_exit(123);
	}
	track(d, true);
	/* ready, or exited: bounded wait (30 s: a loaded machine) */
	switch (rvfd_wait_ready(d->pid, d->out, d->text, sizeof(d->text), &d->port, &st)) {
	case 0:
		return -1;
	case -ECHILD:
		track(d, false);
		d->pid = 0;
		return st;
	default:
		fail_msg("rvfd did not get ready in 30 s");
		return 0;
	}
}

void must_start(const char *dir, struct daemon *d, const struct start *s, char *const *args)
{
	int rc = daemon_start(dir, d, s, args);

	if (rc != -1) {
		char err[4096];

		read_text(d->err, err, sizeof(err));
		fail_msg("rvfd exited %d before ready\nstdout:\n%s\nstderr:\n%s", rc, d->text, err);
	}
}

/* SIGTERM and the exit status (bounded wait). */
int daemon_stop(struct daemon *d)
{
	int st;

	if (!d->pid)
		return -1;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 2000; i++) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			track(d, false);
			d->pid = 0;
			read_text(d->out, d->text, sizeof(d->text));
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	track(d, false);
	d->pid = 0;
	remove_pins(d->pin_dir);
	fail_msg("rvfd did not exit within 20 s of SIGTERM");
	return -1;
}

/* SIGSTOP and wait until every thread of pid is stopped (the signal is
 * asynchronous: a worker may still read a datagram before it stops). */
void stop_and_wait(pid_t pid)
{
	char dir[64];

	assert_int_equal(kill(pid, SIGSTOP), 0);
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	for (int i = 0; i < 1000; i++) {
		DIR *dp = opendir(dir);
		struct dirent *e;
		bool all = dp != NULL;

		while (dp && (e = readdir(dp))) {
			char path[340], buf[512], *rp;
			FILE *fp;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
			fp = fopen(path, "r");
			if (!fp)
				continue;
			buf[0] = 0;
			if (!fgets(buf, sizeof(buf), fp))
				buf[0] = 0;
			fclose(fp);
			rp = strrchr(buf, ')');
			if (!rp || (rp[2] != 'T' && rp[2] != 't'))
				all = false;
		}
		if (dp)
			closedir(dp);
		if (all)
			return;
		usleep(5000);
	}
	fail_msg("rvfd (pid %d) did not stop within 5 s of SIGSTOP", (int)pid);
}

/* ---- a client ------------------------------------------------------------- */

void client_open(struct client *c, const char *ip, uint16_t port)
{
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	memset(&c->to, 0, sizeof(c->to));
	c->to.sin_family = AF_INET;
	c->to.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &c->to.sin_addr), 1);
}

void client_send(struct client *c, const void *buf, size_t len)
{
	assert_int_equal(sendto(c->fd, buf, len, 0, (struct sockaddr *)&c->to, sizeof(c->to)), (ssize_t)len);
}

/* Wait up to ms for a datagram; its length, or -1 on timeout. */
ssize_t client_recv(struct client *c, void *buf, size_t cap, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return recv(c->fd, buf, cap, 0);
}

size_t make_query(uint8_t *buf, size_t cap, uint32_t ns, const float *v, uint16_t dim, uint16_t k,
			 uint16_t ef, uint64_t rid)
{
	struct rvf_wire_query h;
	int n;

	rvf_wire_query_init(&h);
	h.dim = dim;
	h.k = k;
	h.ef = ef;
	h.ns_id = ns;
	h.request_id = rid;
	n = rvf_wire_query_encode(&h, v, buf, cap);
	assert_true(n > 0);
	return (size_t)n;
}

/* Send one datagram and wait for the reply with request id rid (retrying
 * on timeout with the same datagram). Returns the reply's length. */
size_t ask(struct client *c, const void *q, size_t qlen, uint64_t rid, uint8_t *rep, size_t cap)
{
	for (int tries = 0; tries < 10; tries++) {
		ssize_t n;

		client_send(c, q, qlen);
		while ((n = client_recv(c, rep, cap, 1000)) >= 0) {
			struct rvf_wire_reply h;

			if (rvf_wire_reply_parse(rep, (size_t)n, &h) == 0 && h.request_id == rid)
				return (size_t)n;
		}
	}
	fail_msg("no reply to request %llu", (unsigned long long)rid);
	return 0;
}

/* The reply to a query must equal rvf_store_query in process. */
void expect_same_results(const struct rvf_store *ro, const float *v, uint32_t dim, uint16_t k,
				uint32_t ef, const struct rvf_filter *flt, const uint8_t *rep, size_t len)
{
	struct rvf_result want[RVF_WIRE_MAX_K];
	struct rvf_query_opts qo = { .ef_search = ef, .filter = flt };
	struct rvf_wire_reply h;
	int n = rvf_store_query(ro, v, dim, k, &qo, want);

	assert_int_equal(rvf_wire_reply_parse(rep, len, &h), 0);
	assert_int_equal(h.status, RVF_WIRE_OK);
	assert_true(n > 0);
	assert_int_equal(h.count, n);
	for (int i = 0; i < n; i++) {
		struct rvf_wire_result r;

		rvf_wire_reply_result(rep, (uint16_t)i, &r);
		assert_int_equal(r.id, want[i].id);
		assert_memory_equal(&r.distance, &want[i].distance, sizeof(float));
	}
}

json_t *get_stats(struct client *c)
{
	uint8_t req[32];
	static uint8_t rep[RVF_WIRE_MAX_DATAGRAM];

	rvf_wire_stats_request_encode(4242, req, sizeof(req));
	for (int tries = 0; tries < 10; tries++) {
		ssize_t n;

		client_send(c, req, sizeof(req));
		while ((n = client_recv(c, rep, sizeof(rep), 1000)) >= 0) {
			const char *js;
			size_t jl;
			json_error_t e;
			json_t *o;

			if (rvf_wire_stats_reply_parse(rep, (size_t)n, &js, &jl))
				continue;
			o = json_loadb(js, jl, 0, &e);
			if (!o)
				fail_msg("stats reply is not JSON: %s: %.*s", e.text, (int)jl, js);
			return o;
		}
	}
	fail_msg("no stats reply");
	return NULL;
}

long long jget(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	if (!json_is_integer(v))
		fail_msg("stats: %s%s%s is not an integer", a, b ? "." : "", b ? b : "");
	return (long long)json_integer_value(v);
}

/* ---- bad datagrams for the kernel filter tests ---------------------------- */

const struct bad_kind bads[B_N] = {
	[B_TRUNC] = { "truncated", 3 }, [B_MAGIC] = { "bad magic", 4 }, [B_VERSION] = { "bad version", 5 },
	[B_HEADER] = { "bad header", 6 }, [B_DIM] = { "wrong dim", 7 }, [B_LENGTH] = { "bad length", 8 },
	[B_K] = { "bad k", 9 }, [B_NS] = { "wrong ns", 10 }, [B_NAN] = { "nan", 11 },
};

struct bad_shape bad_shape;

size_t make_bad(uint8_t *b, size_t cap, const float *v, enum bad k, int t, uint64_t rid)
{
	float nanv[1024];
	size_t n = make_query(b, cap, bad_shape.ns, v, bad_shape.dim, 10, 64, rid);

	switch (k) {
	case B_TRUNC: return 31 - (size_t)t;
	case B_MAGIC: b[1] = 'X'; return n;
	case B_VERSION: b[4] = 2; return n;
	case B_HEADER: b[5] = 0x80; return n;
	case B_DIM: return make_query(b, cap, bad_shape.ns, v, bad_shape.dim2, 10, 64, rid);
	case B_LENGTH: return n - 4 * (size_t)(t + 1);
	case B_K: b[0x0C] = t & 1 ? 0 : 101; return n;
	case B_NS: return make_query(b, cap, 100 + (uint32_t)t, v, bad_shape.dim, 10, 64, rid);
	case B_NAN:
		assert_true(bad_shape.dim <= 1024);
		memcpy(nanv, v, bad_shape.dim * sizeof(float));
		nanv[t % bad_shape.dim] = NAN;
		return make_query(b, cap, bad_shape.ns, nanv, bad_shape.dim, 10, 64, rid);
	default: return n;
	}
}

/* Send every bad kind; then expect exactly the replies (status) of the
 * kinds in `answered`, in order, and nothing else. */
void send_bads(struct client *c, const float *v, unsigned answered_mask, const int *status)
{
	uint8_t b[4096], rep[2048];
	int want = 0, got = 0;

	for (int k = 0; k < B_N; k++)
		for (int t = 0; t < bads[k].times; t++) {
			size_t n = make_bad(b, sizeof(b), v, (enum bad)k, t, BAD_RID | (uint64_t)(k * 100 + t));

			client_send(c, b, n);
			if (answered_mask & (1u << k))
				want++;
		}
	while (got < want) {
		struct rvf_wire_reply h;
		ssize_t n = client_recv(c, rep, sizeof(rep), 5000);
		int k;

		if (n < 0)
			fail_msg("%d of %d expected error replies", got, want);
		assert_int_equal(rvf_wire_reply_parse(rep, (size_t)n, &h), 0);
		assert_true(h.request_id & BAD_RID);
		k = (int)((h.request_id & ~BAD_RID) / 100);
		if (!(answered_mask & (1u << k)))
			fail_msg("%s was answered (%s): it should have been dropped", bads[k].what,
				 rvf_wire_status_name(h.status));
		assert_int_equal(h.status, status[k]);
		got++;
	}
}

/* Kernel counters equal what was sent. An unserved namespace has no shape
 * in the prefilter, so its datagrams count as bad_dim there (wire.h). */
void expect_kernel_counts(const struct rvf_wire_counters *k, uint64_t passed_min, bool exact_passed)
{
	assert_int_equal(k->truncated, bads[B_TRUNC].times);
	assert_int_equal(k->bad_magic, bads[B_MAGIC].times);
	assert_int_equal(k->bad_version, bads[B_VERSION].times);
	assert_int_equal(k->bad_header, bads[B_HEADER].times);
	assert_int_equal(k->bad_length, bads[B_LENGTH].times);
	assert_int_equal(k->bad_k, bads[B_K].times);
	assert_int_equal(k->bad_dim + k->not_member, bads[B_DIM].times + bads[B_NS].times);
	assert_int_equal(k->nonfinite, 0);
	if (exact_passed)
		assert_int_equal(k->passed, passed_min);
	else
		assert_true(k->passed >= passed_min);
}

void json_to_counters(json_t *o, struct rvf_wire_counters *c)
{
	memset(c, 0, sizeof(*c));
	for (int r = 0; r < RVF_WIRE_R_NREASONS; r++)
		*rvf_wire_counter_field(c, r) = (rvf_u64)json_integer_value(json_object_get(o, rvf_wire_reason_name(r)));
}

/* ---- veth between two network namespaces ---------------------------------- */

struct netpair pairs[2];

void destroy_all_pairs(void)
{
	for (int i = 0; i < 2; i++)
		netpair_destroy(&pairs[i]);
}

/* Client 10.201.<n>.1 in p->cli, server 10.201.<n>.2 in p->srv. */
void netpair_create(struct netpair *p, int n, int mtu)
{
	if (netpair_setup(p, "rvt", 201, n, mtu))
		fail_msg("cannot set up the veth pair %s <-> %s", p->cli, p->srv);
}

void find_binary(void)
{
	const char *e = getenv("RVFD_BIN");
	char self[PATH_MAX], tmp[PATH_MAX + 16], *dn;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (e && *e) {
		snprintf(rvfd_bin, sizeof(rvfd_bin), "%s", e);
		return;
	}
	self[n > 0 ? n : 0] = '\0';
	dn = strdup(self);
	snprintf(tmp, sizeof(tmp), "%s/../bin/rvfd", dirname(dn));
	free(dn);
	if (!realpath(tmp, rvfd_bin))
		snprintf(rvfd_bin, sizeof(rvfd_bin), "%.*s", (int)sizeof(rvfd_bin) - 1, tmp);
}

/* ---- network helpers --------------------------------------------------------- */

static uint16_t icmp_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* One ICMP echo to ip answered (raw socket): 0, else -1. */
int ping_once(const char *ip)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct icmphdr e = { .type = ICMP_ECHO, .un.echo = { .id = htons(0x5256), .sequence = htons(1) } };
	uint8_t buf[256];
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP), rc = -1;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, ip, &to.sin_addr);
	e.checksum = icmp_sum(&e, sizeof(e));
	for (int t = 0; t < 3 && rc; t++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		sendto(fd, &e, sizeof(e), 0, (struct sockaddr *)&to, sizeof(to));
		while (rc && poll(&p, 1, 1000) > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			const struct iphdr *iph = (const void *)buf;
			const struct icmphdr *r;

			if (n < (ssize_t)sizeof(*iph) || n < iph->ihl * 4 + (ssize_t)sizeof(*r))
				continue;
			r = (const void *)(buf + iph->ihl * 4);
			if (iph->saddr == to.sin_addr.s_addr && r->type == ICMP_ECHOREPLY &&
			    r->un.echo.id == e.un.echo.id)
				rc = 0;
		}
	}
	close(fd);
	return rc;
}

/* A UDP echo server on ip:port in namespace ns (a child):
 * answers datagrams until killed. Ready when this returns. */
pid_t udp_echo_server(const char *ns, const char *ip, uint16_t port)
{
	int pfd[2];
	char ok;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		uint8_t b[2048];
		int fd;

		close(pfd[0]);
		inet_pton(AF_INET, ip, &a.sin_addr);
		if (netns_enter(ns) || (fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&a, sizeof(a)))
			_exit(1);
		if (write(pfd[1], "y", 1) != 1)
			_exit(1);
		for (;;) {
			ssize_t n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);

			if (n > 0)
				sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&from, fl);
			fl = sizeof(from);
		}
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &ok, 1), 1);
	close(pfd[0]);
	return pid;
}
