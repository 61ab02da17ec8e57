/*
 * test_afxdp.c - rvfd's kernel-bypass receive path (--xdp-mode afxdp) end to
 * end: the real build/bin/rvfd inside a network namespace on one end of a
 * veth pair, a client in another namespace on the other end, both created
 * and removed by this test (tests/helpers/rvfd_harness.c).
 *
 * Covered:
 *  - the zero-copy bind is refused on veth (EOPNOTSUPP, said at start and
 *    counted) and the daemon serves in copy mode;
 *  - queries in copy mode are answered exactly as rvf_store_query in process
 *    answers them (ids and distances, many k), through the AF_XDP socket
 *    (redirected in XDP, counted by the AF_XDP worker, not seen by the UDP
 *    socket);
 *  - while the socket is attached, ARP (the neighbour cache is flushed
 *    first), ICMP echo, UDP to another port, stats requests and fragmented
 *    queries (1024 dims at MTU 1500) still go through the kernel stack;
 *  - bad queries are dropped in XDP and counted there, never redirected;
 *  - at MTU 9000 with 2 KiB UMEM frames, 1024-dim queries arrive through
 *    the AF_XDP socket as three descriptors each (XDP_USE_SG), reassembled;
 *  - XDP_STATISTICS and the mode are in the stats JSON and in `rvf stats`;
 *  - without the eBPF level (as nobody) AF_XDP falls back to the UDP path
 *    and says so; bad AF_XDP options are refused with a message;
 *  - after SIGTERM no XDP program is left on the interface (bpftool net
 *    show) and the XSKMAP with its entries is gone (its id no longer exists).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "testutil.h"
#include "rvfd_harness.h"
#include "bpfload/bpfload.h"

#define DIM    32
#define DIM2   16
#define BIGDIM 1024
#define NS1    1
#define NS2    2
#define NQ     120
#define NBIG   8
#define ECHO_PORT 9999

static uint64_t seed;
static char *shared_dir, *store, *big_store;
static float *qv, *bigq;
static char tmp_dir[PATH_MAX - 64];

static const uint16_t ks[] = { 1, 5, 10, 50, 100 };

/* In-process answers, computed before the client forks. */
struct want {
	struct rvf_result r[NQ][RVF_WIRE_MAX_K];
	int n[NQ];
	struct rvf_result big[NBIG][10];
	int nbig[NBIG];
};
static struct want *want;

static void compute_want(void)
{
	struct rvf_store *ro = NULL, *rb = NULL;
	struct rvf_query_opts qo = { .ef_search = 128 };

	want = calloc(1, sizeof(*want));
	assert_int_equal(rvf_store_open_readonly(store, NULL, &ro), 0);
	assert_int_equal(rvf_store_open_readonly(big_store, NULL, &rb), 0);
	for (int i = 0; i < NQ; i++) {
		want->n[i] = rvf_store_query(ro, qv + (size_t)i * DIM, DIM, ks[i % 5], &qo, want->r[i]);
		assert_int_equal(want->n[i], ks[i % 5]);
	}
	for (int i = 0; i < NBIG; i++) {
		want->nbig[i] = rvf_store_query(rb, bigq + (size_t)i * BIGDIM, BIGDIM, 10, &qo, want->big[i]);
		assert_int_equal(want->nbig[i], 10);
	}
	rvf_store_close(ro);
	rvf_store_close(rb);
}

static const char *ifname_srv(void)
{
	static char n[32];

	snprintf(n, sizeof(n), "rvt%ds", (int)getpid() % 100000);
	return n;
}

/* ---- the client side (a forked child in the client namespace) ------------ */

/* Does the reply equal the in-process results? */
static bool same(const uint8_t *rep, size_t len, const struct rvf_result *w, int n)
{
	struct rvf_wire_reply h;

	if (rvf_wire_reply_parse(rep, len, &h) || h.status != RVF_WIRE_OK || h.count != n)
		return false;
	for (uint16_t j = 0; j < h.count; j++) {
		struct rvf_wire_result r;

		rvf_wire_reply_result(rep, j, &r);
		if (r.id != w[j].id || memcmp(&r.distance, &w[j].distance, 4))
			return false;
	}
	return true;
}

/* Send q and wait for the reply to rid; its length or 0 (a few tries). */
static size_t roundtrip(struct client *c, const uint8_t *q, size_t len, uint64_t rid, uint8_t *rep, size_t cap)
{
	for (int t = 0; t < 5; t++) {
		ssize_t n;

		sendto(c->fd, q, len, 0, (struct sockaddr *)&c->to, sizeof(c->to));
		while ((n = client_recv(c, rep, cap, 1000)) >= 0) {
			struct rvf_wire_reply h;

			if (rvf_wire_reply_parse(rep, (size_t)n, &h) == 0 && h.request_id == rid)
				return (size_t)n;
		}
	}
	return 0;
}

/* Queries 0..n-1 only, each compared, on a connected socket: a reply from
 * any other address or port than the one asked would not arrive. 0 or the
 * failing query + 1. */
static int query_client(const char *ns, const char *ip, uint16_t port, int n)
{
	static uint8_t pkt[4096], rep[4096];
	struct client c;

	if (netns_enter(ns))
		return 200;
	client_open(&c, ip, port);
	if (connect(c.fd, (struct sockaddr *)&c.to, sizeof(c.to)))
		return 201;
	for (int i = 0; i < n; i++) {
		uint64_t rid = 7000 + (uint64_t)i;
		size_t len = make_query(pkt, sizeof(pkt), NS1, qv + (size_t)i * DIM, DIM, ks[i % 5], 128, rid);

		len = roundtrip(&c, pkt, len, rid, rep, sizeof(rep));
		if (!len || !same(rep, len, want->r[i], want->n[i]))
			return 1 + i % 100;
	}
	close(c.fd);
	return 0;
}

/* The client's run: every query compared, the fragmented big ones, ICMP,
 * UDP to the echo port. 0, or the failing step. */
static int client_main(const char *ns, const char *ip, uint16_t port)
{
	static uint8_t pkt[8192], rep[4096];
	struct client c, e;
	const char msg[] = "not a query";
	ssize_t n;

	if (netns_enter(ns))
		return 200;
	client_open(&c, ip, port);
	for (int i = 0; i < NQ; i++) {
		uint64_t rid = 1000 + (uint64_t)i;
		size_t len = make_query(pkt, sizeof(pkt), NS1, qv + (size_t)i * DIM, DIM, ks[i % 5], 128, rid);

		len = roundtrip(&c, pkt, len, rid, rep, sizeof(rep));
		if (!len || !same(rep, len, want->r[i], want->n[i]))
			return 1 + i % 100;
	}
	for (int i = 0; i < NBIG; i++) {
		uint64_t rid = 5000 + (uint64_t)i;
		size_t len = make_query(pkt, sizeof(pkt), NS2, bigq + (size_t)i * BIGDIM, BIGDIM, 10, 128, rid);

		len = roundtrip(&c, pkt, len, rid, rep, sizeof(rep));
		if (!len || !same(rep, len, want->big[i], want->nbig[i]))
			return 110 + i;
	}
	if (ping_once(ip))
		return 130;
	client_open(&e, ip, ECHO_PORT);
	for (int t = 0; t < 5; t++) {
		client_send(&e, msg, sizeof(msg));
		n = client_recv(&e, rep, sizeof(rep), 1000);
		if (n == (ssize_t)sizeof(msg) && !memcmp(rep, msg, sizeof(msg)))
			break;
		if (t == 4)
			return 131;
	}
	close(e.fd);
	close(c.fd);
	return 0;
}

/* ---- the server side -------------------------------------------------------- */

struct run {
	struct netpair *p;
	char ip[32], listen[48];
	struct daemon d;
};

/* rvfd with both stores on pair n's server end, in AF_XDP mode; listening
 * on the server's address, or on 0.0.0.0 (any: replies then carry the
 * query's destination as their source through IP_PKTINFO). */
static void start_afxdp_mtu(struct run *r, int n, const struct start *st, char *const *extra, bool any,
			    int mtu)
{
	char s1[PATH_MAX + 8], s2[PATH_MAX + 8];
	char *args[32] = { "--store", s1, "--store", s2, "--listen", r->listen, "--threads", "1",
			   "--iface", (char *)ifname_srv(), "--xdp-mode", "afxdp" };
	int a = 12;
	struct start s = st ? *st : (struct start){ 0 };

	r->p = &pairs[n % 2];
	netpair_create(r->p, 40 + n, mtu);
	snprintf(r->ip, sizeof(r->ip), "10.201.%d.2", 40 + n);
	snprintf(r->listen, sizeof(r->listen), "%s:0", any ? "0.0.0.0" : r->ip);
	snprintf(s1, sizeof(s1), "%u=%s", NS1, store);
	snprintf(s2, sizeof(s2), "%u=%s", NS2, big_store);
	for (int i = 0; extra && extra[i]; i++)
		args[a++] = extra[i];
	args[a] = NULL;
	s.netns = r->p->srv;
	must_start(tmp_dir, &r->d, &s, args);
}

static void start_afxdp(struct run *r, int n, const struct start *st, char *const *extra, bool any)
{
	start_afxdp_mtu(r, n, st, extra, any, 1500);
}

static void stop_run(struct run *r)
{
	assert_int_equal(daemon_stop(&r->d), 0);
	netpair_destroy(r->p);
}

static json_t *stats_from_client_ns(struct run *r)
{
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	struct client c;
	json_t *o;

	assert_true(fd >= 0);
	assert_int_equal(netns_enter(r->p->cli), 0);
	client_open(&c, r->ip, r->d.port);
	o = get_stats(&c);
	close(c.fd);
	assert_int_equal(setns(fd, CLONE_NEWNET), 0);
	close(fd);
	return o;
}

static const char *jstr_at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(json_object_get(o, a), b);

	if (!json_is_string(v))
		fail_msg("stats: %s.%s is not a string", a, b);
	return json_string_value(v);
}

static long long jget3(json_t *o, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(json_object_get(json_object_get(o, a), b), c);

	if (!json_is_integer(v))
		fail_msg("stats: %s.%s.%s is not an integer", a, b, c);
	return (long long)json_integer_value(v);
}

/* ---- tests ------------------------------------------------------------------- */

static void copy_mode_answers_as_in_process_and_the_stack_still_works(void **state)
{
	struct run r;
	pid_t echo, cli;
	int st;
	json_t *o;
	char out[8192], cmd[PATH_MAX * 3], path[PATH_MAX];
	long long stats_req;

	(void)state;
	start_afxdp(&r, 0, NULL, NULL, false);
	/* zero-copy first: veth has none, the daemon says so and runs copy mode */
	if (!strstr(r.d.text, "rvfd: afxdp: copy: copy mode on") ||
	    !strstr(r.d.text, "zero-copy refused by the driver: Operation not supported"))
		fail_msg("want copy mode after a refused zero-copy bind in:\n%s", r.d.text);
	/* ARP must work while attached: nothing cached yet */
	assert_int_equal(sh("ip -n %s neigh flush all", r.p->cli), 0);
	echo = udp_echo_server(r.p->srv, r.ip, ECHO_PORT);
	cli = fork();
	assert_true(cli >= 0);
	if (cli == 0)
		_exit(client_main(r.p->cli, r.ip, r.d.port));
	assert_int_equal(waitpid(cli, &st, 0), cli);
	kill(echo, SIGKILL);
	waitpid(echo, NULL, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("the client failed at step %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	assert_int_equal(sh("ip -n %s neigh show %s | grep -q lladdr", r.p->cli, r.ip), 0);

	o = stats_from_client_ns(&r);
	assert_string_equal(jstr_at(o, "afxdp", "mode"), "copy");
	assert_int_equal(jget(o, "afxdp", "zerocopy_refused"), 1);
	assert_int_equal(jget(o, "afxdp", "fallbacks"), 0);
	assert_int_equal(jget(o, "afxdp", "sockets"), 1);
	/* every small query came through the AF_XDP socket (resends included) */
	assert_true(jget(o, "afxdp", "datagrams") >= NQ);
	assert_int_equal(jget(o, "afxdp", "datagrams"), jget(o, "afxdp", "sent"));
	assert_int_equal(jget(o, "afxdp", "not_parsed"), 0);
	assert_int_equal(jget3(o, "kernel", "xdp", "redirected"), jget(o, "afxdp", "frames"));
	assert_int_equal(jget3(o, "afxdp", "xdp_statistics", "rx_dropped"), 0);
	assert_int_equal(jget3(o, "afxdp", "xdp_statistics", "rx_invalid_descs"), 0);
	jget3(o, "afxdp", "xdp_statistics", "rx_ring_full");
	jget3(o, "afxdp", "xdp_statistics", "rx_fill_ring_empty_descs");
	jget3(o, "afxdp", "xdp_statistics", "tx_invalid_descs");
	/* the UDP socket saw only what XDP passed: the fragmented queries
	 * (reassembled by the stack) and the stats requests */
	stats_req = jget(o, "stats_requests", NULL);
	assert_true(jget(o, "io_stats", "received") >= NBIG + stats_req);
	assert_true(jget(o, "io_stats", "received") < NBIG * 5 + stats_req + 1);
	assert_true(jget3(o, "kernel", "xdp", "fragments") >= NBIG);
	printf("info: copy mode: %lld queries through AF_XDP (%lld frames redirected), %lld through "
	       "UDP (fragmented 1024-dim and stats); ARP, ICMP echo and UDP to port %d answered by "
	       "the stack\n", jget(o, "afxdp", "datagrams"), jget3(o, "kernel", "xdp", "redirected"),
	       jget(o, "io_stats", "received"), ECHO_PORT);
	json_decref(o);

	/* rvf stats names the mode and XDP_STATISTICS */
	snprintf(path, sizeof(path), "%s/rvf-stats.txt", tmp_dir);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s %s/rvf stats %s:%u > %s 2>&1", r.p->cli,
		 dirname(strdupa(rvfd_bin)), r.ip, r.d.port, path);
	assert_int_equal(sh("%s", cmd), 0);
	read_text(path, out, sizeof(out));
	if (!strstr(out, "afxdp: copy - copy mode on") || !strstr(out, "afxdp XDP_STATISTICS:") ||
	    !strstr(out, "redirected"))
		fail_msg("rvf stats text lacks the AF_XDP lines:\n%s", out);
	stop_run(&r);
}

/* The bad kinds of the harness against the AF_XDP daemon: XDP drops and
 * counts every one; the NaN queries (BPF does not scan vectors) are the
 * only ones redirected, and answered BAD_REQUEST by userspace. */
static int bad_client(const char *ns, const char *ip, uint16_t port)
{
	int status[B_N] = { [B_NAN] = RVF_WIRE_BAD_REQUEST };
	struct client c;
	uint8_t pkt[4096], rep[4096];

	if (netns_enter(ns))
		return 200;
	client_open(&c, ip, port);
	send_bads(&c, qv, 1u << B_NAN, status);
	for (int i = 0; i < 10; i++) {
		uint64_t rid = 3000 + (uint64_t)i;
		size_t len = make_query(pkt, sizeof(pkt), NS1, qv + (size_t)i * DIM, DIM, ks[i % 5], 128, rid);

		len = roundtrip(&c, pkt, len, rid, rep, sizeof(rep));
		if (!len || !same(rep, len, want->r[i], want->n[i]))
			return 1 + i;
	}
	close(c.fd);
	return 0;
}

static void bad_queries_are_dropped_in_xdp_and_counted(void **state)
{
	struct run r;
	struct rvf_wire_counters x, so;
	pid_t cli;
	int st;
	json_t *o;

	(void)state;
	start_afxdp(&r, 1, NULL, NULL, false);
	cli = fork();
	assert_true(cli >= 0);
	if (cli == 0)
		_exit(bad_client(r.p->cli, r.ip, r.d.port));
	assert_int_equal(waitpid(cli, &st, 0), cli);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("the client failed at step %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	assert_int_equal(rvf_bpf_counters_pinned(r.d.pin_dir, RVF_WIRE_SLOT_XDP, &x), 0);
	assert_int_equal(rvf_bpf_counters_pinned(r.d.pin_dir, RVF_WIRE_SLOT_SOCK, &so), 0);
	expect_kernel_counts(&x, 10 + (uint64_t)bads[B_NAN].times, false);
	/* valid-looking ones went to the socket; nothing bad reached the UDP socket */
	assert_int_equal(x.redirected, x.passed);
	assert_int_equal(so.bad_magic + so.bad_version + so.bad_header + so.bad_dim + so.bad_length +
			 so.bad_k + so.not_member + so.truncated + so.passed, 0);
	o = stats_from_client_ns(&r);
	assert_int_equal(jget(o, "user", "nonfinite"), bads[B_NAN].times);
	assert_int_equal(jget(o, "replies", "bad_request"), bads[B_NAN].times);
	assert_int_equal(jget(o, "afxdp", "datagrams"), (long long)x.redirected);
	printf("info: afxdp: XDP dropped truncated %llu magic %llu version %llu header %llu dim+ns %llu "
	       "length %llu k %llu; redirected %llu (NaN answered by userspace)\n",
	       (unsigned long long)x.truncated, (unsigned long long)x.bad_magic,
	       (unsigned long long)x.bad_version, (unsigned long long)x.bad_header,
	       (unsigned long long)(x.bad_dim + x.not_member), (unsigned long long)x.bad_length,
	       (unsigned long long)x.bad_k, (unsigned long long)x.redirected);
	json_decref(o);
	stop_run(&r);
}

static uint32_t pinned_id(const char *dir, const char *name, bool prog)
{
	char path[PATH_MAX];
	struct bpf_prog_info pi;
	struct bpf_map_info mi;
	uint32_t len = prog ? sizeof(pi) : sizeof(mi);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fail_msg("%s: not pinned (%s)", path, strerror(errno));
	memset(&pi, 0, sizeof(pi));
	memset(&mi, 0, sizeof(mi));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, prog ? (void *)&pi : (void *)&mi, &len), 0);
	close(fd);
	return prog ? pi.id : mi.id;
}

/* Objects are freed after the last reference goes, asynchronously: a
 * bounded wait for the id to stop resolving. */
static bool id_gone(uint32_t id, bool prog)
{
	for (int i = 0; i < 300; i++) {
		int fd = prog ? bpf_prog_get_fd_by_id(id) : bpf_map_get_fd_by_id(id);

		if (fd < 0 && errno == ENOENT)
			return true;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	return false;
}

static void shutdown_leaves_no_program_and_no_map_entries(void **state)
{
	struct run r;
	uint32_t map_id, prog_id;
	char path[PATH_MAX], out[4096], want_line[64];
	pid_t cli;
	int st;

	(void)state;
	/* generic XDP, non-default sizes, a wildcard listener */
	start_afxdp(&r, 2, NULL, (char *const[]){ "--xdp", "generic", "--queues", "1", "--xsk-frame-size",
						  "2048", "--xsk-rx-ring", "256", "--xsk-fill-ring", "512",
						  "--xsk-frames", "1024", NULL }, true);
	assert_non_null(strstr(r.d.text, "XDP generic on"));
	assert_non_null(strstr(r.d.text, "rvfd: afxdp: copy: copy mode on"));
	cli = fork();
	assert_true(cli >= 0);
	if (cli == 0)
		_exit(query_client(r.p->cli, r.ip, r.d.port, NQ));
	assert_int_equal(waitpid(cli, &st, 0), cli);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("the client failed at step %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	{
		json_t *o = stats_from_client_ns(&r);

		assert_true(jget(o, "afxdp", "datagrams") >= NQ);
		assert_int_equal(jget(o, "afxdp", "send_errors"), 0);
		json_decref(o);
	}
	map_id = pinned_id(r.d.pin_dir, "rvf_xsks", false);
	prog_id = pinned_id(r.d.pin_dir, "xdp_prefilter", true);
	snprintf(path, sizeof(path), "%s/net-show.txt", tmp_dir);
	assert_int_equal(sh("ip netns exec %s bpftool net show dev %s > %s", r.p->srv, ifname_srv(), path), 0);
	read_text(path, out, sizeof(out));
	snprintf(want_line, sizeof(want_line), "generic id %u", prog_id);
	if (!strstr(out, want_line))
		fail_msg("while running, want '%s' in bpftool net show:\n%s", want_line, out);
	assert_int_equal(daemon_stop(&r.d), 0);
	assert_true(strstr(r.d.text, "stopped after") != NULL);
	assert_int_equal(sh("ip netns exec %s bpftool net show dev %s > %s", r.p->srv, ifname_srv(), path), 0);
	read_text(path, out, sizeof(out));
	if (strstr(out, "driver id") || strstr(out, "generic id") || strstr(out, "xdp_prefilter"))
		fail_msg("an XDP program is left on %s after shutdown:\n%s", ifname_srv(), out);
	/* the XSKMAP (and so every entry in it) and the program are freed */
	assert_true(id_gone(map_id, false));
	assert_true(id_gone(prog_id, true));
	assert_int_equal(access(r.d.pin_dir, F_OK), -1);
	printf("info: after SIGTERM: no XDP program on %s, map %u and program %u freed, pins gone\n",
	       ifname_srv(), map_id, prog_id);
	netpair_destroy(r.p);
}

/* As nobody eBPF cannot load: no XDP, so AF_XDP falls back to UDP, which
 * answers as in process. */
static void without_ebpf_afxdp_falls_back_to_udp(void **state)
{
	struct run r;
	struct start s = { .as_nobody = true };
	pid_t cli;
	int st;
	json_t *o;

	(void)state;
	/* nobody must be able to read the stores */
	assert_int_equal(chmod(shared_dir, 0755), 0);
	assert_int_equal(chmod(store, 0644), 0);
	assert_int_equal(chmod(big_store, 0644), 0);
	start_afxdp(&r, 3, &s, NULL, false);
	if (!strstr(r.d.text, "rvfd: afxdp: udp: AF_XDP needs the eBPF prefilter") ||
	    !strstr(r.d.text, "serving by UDP only"))
		fail_msg("want the UDP fallback line in:\n%s", r.d.text);
	cli = fork();
	assert_true(cli >= 0);
	if (cli == 0)
		_exit(query_client(r.p->cli, r.ip, r.d.port, 20));
	assert_int_equal(waitpid(cli, &st, 0), cli);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("the client failed at step %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	o = stats_from_client_ns(&r);
	assert_string_equal(jstr_at(o, "afxdp", "mode"), "udp");
	assert_int_equal(jget(o, "afxdp", "fallbacks"), 1);
	assert_int_equal(jget(o, "afxdp", "sockets"), 0);
	assert_true(jget(o, "io_stats", "received") >= 20);
	json_decref(o);
	stop_run(&r);
}

static void expect_refused(int code, const char *msg, char *const *args)
{
	struct daemon d;
	char err[4096];
	int rc = daemon_start(tmp_dir, &d, NULL, args);

	read_text(d.err, err, sizeof(err));
	if (rc != code || !strstr(err, msg))
		fail_msg("want exit %d and '%s'; got %d:\n%s", code, msg, rc, err);
}

static void bad_afxdp_options_are_refused(void **state)
{
	char s1[PATH_MAX + 8];
	struct netpair *p = &pairs[0];
	struct start s;
	struct daemon d;
	char err[4096], listen[48];
	int rc;

	(void)state;
	snprintf(s1, sizeof(s1), "%u=%s", NS1, store);
	expect_refused(2, "--xdp-mode afxdp needs --iface", (char *const[]){ "--store", s1, "--listen",
			"127.0.0.1:0", "--xdp-mode", "afxdp", NULL });
	expect_refused(2, "filter or afxdp", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
			"--iface", "lo", "--xdp-mode", "bypass", NULL });
	expect_refused(2, "need --xdp-mode afxdp", (char *const[]){ "--store", s1, "--listen",
			"127.0.0.1:0", "--queues", "2", NULL });
	expect_refused(2, "2048..4096", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
			"--iface", "lo", "--xdp-mode", "afxdp", "--xsk-frame-size", "1000", NULL });
	expect_refused(2, "frame size 3000: 2048 or 4096", (char *const[]){ "--store", s1, "--listen",
			"127.0.0.1:0", "--iface", "lo", "--xdp-mode", "afxdp", "--xsk-frame-size", "3000", NULL });
	expect_refused(2, "RX ring 100: a power of two", (char *const[]){ "--store", s1, "--listen",
			"127.0.0.1:0", "--iface", "lo", "--xdp-mode", "afxdp", "--xsk-rx-ring", "100", NULL });
	expect_refused(2, "queue 3 given twice", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
			"--iface", "lo", "--xdp-mode", "afxdp", "--queues", "2-3,3", NULL });
	expect_refused(2, "needs --iface IF and the XDP prefilter", (char *const[]){ "--store", s1,
			"--listen", "127.0.0.1:0", "--iface", "lo", "--xdp", "off", "--xdp-mode", "afxdp", NULL });
	/* a queue veth does not have: a configuration error, exit 1 */
	netpair_create(p, 45, 1500);
	snprintf(listen, sizeof(listen), "10.201.45.2:0");
	s = (struct start){ .netns = p->srv };
	rc = daemon_start(tmp_dir, &d, &s, (char *const[]){ "--store", s1, "--listen", listen,
			  "--iface", (char *)ifname_srv(), "--xdp-mode", "afxdp", "--queues", "5", NULL });
	read_text(d.err, err, sizeof(err));
	if (rc != 1 || !strstr(err, "queue 1 does not exist"))
		fail_msg("want exit 1 and 'queue 1 does not exist'; got %d:\n%s", rc, err);
	netpair_destroy(p);
}

/* The 1024-dim queries (4128-byte datagrams, 4170-byte frames), each
 * compared: 0 or the failing query + 1. */
static int big_client(const char *ns, const char *ip, uint16_t port)
{
	static uint8_t pkt[8192], rep[4096];
	struct client c;

	if (netns_enter(ns))
		return 200;
	client_open(&c, ip, port);
	for (int i = 0; i < NBIG; i++) {
		uint64_t rid = 5000 + (uint64_t)i;
		size_t len = make_query(pkt, sizeof(pkt), NS2, bigq + (size_t)i * BIGDIM, BIGDIM, 10, 128, rid);

		len = roundtrip(&c, pkt, len, rid, rep, sizeof(rep));
		if (!len || !same(rep, len, want->big[i], want->nbig[i]))
			return 1 + i;
	}
	close(c.fd);
	return 0;
}

/* MTU 9000 and 2 KiB UMEM frames: a 1024-dim query's frame does not fit
 * one, so the socket is bound with XDP_USE_SG, the prefilter redirects the
 * frame through rvf_xsks_sg and the worker reassembles it from three
 * descriptors; the UDP socket sees only the stats requests. */
static void jumbo_frames_arrive_as_multi_buffer_descriptors(void **state)
{
	struct run r;
	pid_t cli;
	int st;
	json_t *o;

	(void)state;
	start_afxdp_mtu(&r, 4, NULL, (char *const[]){ "--xsk-frame-size", "2048", NULL }, false, 9000);
	if (!strstr(r.d.text, "multi-buffer (XDP_USE_SG) for frames above 1792 bytes at MTU 9000"))
		fail_msg("want the multi-buffer line in:\n%s", r.d.text);
	cli = fork();
	assert_true(cli >= 0);
	if (cli == 0)
		_exit(big_client(r.p->cli, r.ip, r.d.port));
	assert_int_equal(waitpid(cli, &st, 0), cli);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("the client failed at query %d", WIFEXITED(st) ? WEXITSTATUS(st) - 1 : -1);
	o = stats_from_client_ns(&r);
	assert_int_equal(jget(o, "afxdp", "multi_buffer_sockets"), 1);
	assert_true(jget(o, "afxdp", "multi_buffer_frames") >= NBIG);
	assert_int_equal(jget(o, "afxdp", "multi_buffer_frames"), jget(o, "afxdp", "datagrams"));
	/* 4170 bytes in frames of 1792: three descriptors each */
	assert_int_equal(jget(o, "afxdp", "frames"), 3 * jget(o, "afxdp", "datagrams"));
	assert_int_equal(jget(o, "afxdp", "not_parsed"), 0);
	assert_int_equal(jget(o, "io_stats", "received"), jget(o, "stats_requests", NULL));
	assert_int_equal(jget3(o, "kernel", "xdp", "fragments"), 0);
	assert_int_equal(jget3(o, "afxdp", "xdp_statistics", "rx_dropped"), 0);
	printf("info: MTU 9000: %lld 1024-dim queries through AF_XDP as %lld descriptors (XDP_USE_SG)\n",
	       jget(o, "afxdp", "datagrams"), jget(o, "afxdp", "frames"));
	json_decref(o);
	stop_run(&r);
}

static int teardown_net(void **state)
{
	(void)state;
	kill_leftovers();
	destroy_all_pairs();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(copy_mode_answers_as_in_process_and_the_stack_still_works, teardown_net),
		cmocka_unit_test_teardown(bad_queries_are_dropped_in_xdp_and_counted, teardown_net),
		cmocka_unit_test_teardown(shutdown_leaves_no_program_and_no_map_entries, teardown_net),
		cmocka_unit_test_teardown(without_ebpf_afxdp_falls_back_to_udp, teardown_net),
		cmocka_unit_test_teardown(jumbo_frames_arrive_as_multi_buffer_descriptors, teardown_net),
		cmocka_unit_test_teardown(bad_afxdp_options_are_refused, teardown_net),
	};
	int rc;

	find_binary();
	if (access(rvfd_bin, X_OK)) {
		fprintf(stderr, "rvfd binary not found at %s (build it with make, or set RVFD_BIN)\n", rvfd_bin);
		return 1;
	}
	if (geteuid() != 0)
		tu_skip("AF_XDP on veth needs root (network namespaces, CAP_NET_RAW, CAP_BPF)");
	if (system("ip netns list >/dev/null 2>&1 && command -v nsenter >/dev/null && "
		   "command -v bpftool >/dev/null"))
		tu_skip("ip netns, nsenter or bpftool not available");
	{
		int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);

		if (fd < 0)
			tu_skip("this kernel has no AF_XDP sockets (%s)", strerror(errno));
		close(fd);
	}
	printf("info: rvfd binary %s\n", rvfd_bin);
	if (getenv("RVF_SEED") && *getenv("RVF_SEED")) {
		seed = tu_seed();
	} else {
		seed = 42;
		printf("seed: 42 (set RVF_SEED to change)\n");
	}
	tu_log_to_stderr();
	atexit(destroy_all_pairs);
	atexit(kill_leftovers);
	signal(SIGPIPE, SIG_IGN);
	bad_shape = (struct bad_shape){ .ns = NS1, .dim = DIM, .dim2 = DIM2 };

	shared_dir = tu_tmpdir();
	snprintf(tmp_dir, sizeof(tmp_dir), "%s", shared_dir);
	store = tu_path(shared_dir, "s32.rvf");
	big_store = tu_path(shared_dir, "s1024.rvf");
	build_store(store, 3000, DIM, seed, false);
	build_store(big_store, 300, BIGDIM, seed ^ 1024, false);
	qv = malloc((size_t)NQ * DIM * sizeof(float));
	bigq = malloc((size_t)NBIG * BIGDIM * sizeof(float));
	fill_vectors(qv, NQ, DIM, seed ^ 0x5151);
	fill_vectors(bigq, NBIG, BIGDIM, seed ^ 0x1024);
	compute_want();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmrf(shared_dir);
	free(shared_dir);
	free(store);
	free(big_store);
	free(qv);
	free(bigq);
	free(want);
	return rc;
}
