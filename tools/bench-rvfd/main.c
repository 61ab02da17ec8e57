/*
 * bench-rvfd - what serving over the network costs (issue 8):
 *
 *   latency    end-to-end round trip of one query at a time through rvfd
 *              (UDP over loopback, and over a veth pair between two network
 *              namespaces this program creates and removes), p50/p99, as a
 *              ratio to the in-process search time of the same queries (with
 *              a query context, as the daemon's workers search); the p50
 *              overhead in us (goal: < 20 us).
 *   flood      good-query throughput (closed loop, rvf-load) while 10 invalid
 *              datagrams arrive per valid one, as a ratio to the same load
 *              without the flood; once with the kernel filter the daemon
 *              picks (filters on) and once with --no-bpf (userspace only)
 *              (goal: >= 0.9 with filters on). Three alternating pairs of
 *              2 s runs, medians of each side. Beside it the daemon's own CPU
 *              time per answered query without / with the flood (from
 *              /proc/PID/stat): on a shared 2-core machine the wall-clock
 *              ratio also pays for the load generator's 11 sends per query
 *              and the kernel's receive path, while the CPU ratio shows
 *              what the flood costs the daemon itself.
 *
 *   afxdp      (tools/bench-rvfd/afxdp.c; `bench-rvfd afxdp` runs it alone)
 *              AF_XDP copy mode against the UDP path on one veth pair.
 *
 * Data: data_synth_clustered, 20,000 x 128 (RVF_BENCH_QUICK=1: 5,000), k 10,
 * ef 64. Every phase is bounded (2 s load runs); the whole run takes about a
 * minute. Output: one JSON line per figure and a closing summary.
 * Environment: RVF_BENCH_DIR (store files; default build/bench).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "data/data.h"
#include "rvf/rvf.h"
#include "rvf/wire.h"
#include "bench.h"

#define K  10
#define EF 64

char bindir[PATH_MAX];
struct netpair bench_pair;
pid_t daemon_pid;
int bench_k = K, bench_ef = EF;

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double pct(double *v, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	qsort(v, n, sizeof(*v), cmp_double);
	return v[i ? i - 1 : 0];
}

void cleanup(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	netpair_destroy(&bench_pair);
}

static void on_signal(int sig)
{
	(void)sig;
	cleanup();
	_exit(1);
}

/* Start rvfd; returns the port (0 on failure) and the filter line. extra:
 * more arguments, separated by spaces. */
uint16_t start_rvfd(const char *log, const char *netns, const char *store, const char *listen,
			   const char *extra, char *filter_line, size_t fl_len)
{
	char text[8192], nsarg[64], storearg[PATH_MAX + 4], rvfd[PATH_MAX + 8], *p;
	char *argv[32], extra_buf[512], *save = NULL, *f;
	uint16_t port = 0;
	int a = 0, st = 0;

	snprintf(nsarg, sizeof(nsarg), "--net=/run/netns/%s", netns ? netns : "");
	snprintf(storearg, sizeof(storearg), "1=%s", store);
	snprintf(rvfd, sizeof(rvfd), "%s/rvfd", bindir);
	if (netns) {
		argv[a++] = "nsenter";
		argv[a++] = nsarg;
		argv[a++] = "--";
	}
	argv[a++] = rvfd;
	argv[a++] = "--store";
	argv[a++] = storearg;
	argv[a++] = "--listen";
	argv[a++] = (char *)listen;
	argv[a++] = "--threads";
	argv[a++] = "1";
	snprintf(extra_buf, sizeof(extra_buf), "%s", extra ? extra : "");
	for (p = strtok_r(extra_buf, " ", &save); p && a < 31; p = strtok_r(NULL, " ", &save))
		argv[a++] = p;
	argv[a] = NULL;
	unlink(log);   /* never read the last run's "ready" */
	daemon_pid = fork();
	if (daemon_pid < 0)
		return 0;
	if (daemon_pid == 0) {
		int o = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (o < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0)
			_exit(120);
		execvp(argv[0], argv);
		_exit(121);
	}
	switch (rvfd_wait_ready(daemon_pid, log, text, sizeof(text), &port, &st)) {
	case 0:
		if (filter_line && (f = strstr(text, "rvfd: filter: ")))
			snprintf(filter_line, fl_len, "%.*s", (int)strcspn(f + 14, "\n"), f + 14);
		return port;
	case -ECHILD:
		fprintf(stderr, "bench-rvfd: rvfd exited at start (status %d):\n%s\n", st, text);
		daemon_pid = 0;
		return 0;
	default:
		fprintf(stderr, "bench-rvfd: rvfd did not get ready in 30 s\n");
		return 0;
	}
}

void stop_rvfd(void)
{
	if (daemon_pid <= 0)
		return;
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	daemon_pid = 0;
}

/* One query at a time; RTT of each into lat (seconds). 0 or -1. */
int measure(const char *ip, uint16_t port, const float *q, size_t nq, uint32_t dim, double *lat)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint8_t *pkt = malloc(RVF_WIRE_QUERY_HDR_LEN + (size_t)dim * 4), rep[2048];
	int rc = -1;

	inet_pton(AF_INET, ip, &to.sin_addr);
	if (fd < 0 || !pkt || connect(fd, (struct sockaddr *)&to, sizeof(to)))
		goto out;
	/* warm-up: the first queries touch cold pages on both sides */
	for (size_t i = 0; i < nq + 50; i++) {
		struct rvf_wire_query h;
		struct rvf_wire_reply rh;
		int n;
		bool ok = false;
		double t0 = 0;

		rvf_wire_query_init(&h);
		h.dim = (uint16_t)dim;
		h.k = (uint16_t)bench_k;
		h.ef = (uint16_t)bench_ef;
		h.ns_id = 1;
		h.request_id = i + 1;
		n = rvf_wire_query_encode(&h, q + (i % nq) * dim, pkt, RVF_WIRE_QUERY_HDR_LEN + (size_t)dim * 4);
		for (int t = 0; t < 5 && !ok; t++) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			t0 = now_s();
			if (send(fd, pkt, (size_t)n, 0) < 0)
				goto out;
			while (poll(&pf, 1, 1000) > 0) {
				ssize_t r = recv(fd, rep, sizeof(rep), 0);

				if (r > 0 && !rvf_wire_reply_parse(rep, (size_t)r, &rh) && rh.request_id == h.request_id) {
					ok = rh.status == RVF_WIRE_OK;
					break;
				}
			}
		}
		if (!ok)
			goto out;
		if (i >= 50)
			lat[i - 50] = now_s() - t0;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(pkt);
	return rc;
}

static void report_latency(const char *path, double *lat, size_t nq, double in_p50, double in_p99,
			   double *overhead_us)
{
	double p50 = pct(lat, nq, 0.50), p99 = pct(lat, nq, 0.99);

	printf("{\"bench\":\"rvfd_latency\",\"path\":\"%s\",\"nq\":%zu,\"k\":%d,\"ef\":%d,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"inproc_p50_us\":%.1f,\"inproc_p99_us\":%.1f,"
	       "\"p50_ratio\":%.2f,\"p99_ratio\":%.2f,\"p50_overhead_us\":%.1f}\n",
	       path, nq, K, EF, p50 * 1e6, p99 * 1e6, in_p50 * 1e6, in_p99 * 1e6, p50 / in_p50,
	       p99 / in_p99, (p50 - in_p50) * 1e6);
	fflush(stdout);
	*overhead_us = (p50 - in_p50) * 1e6;
}

/* CPU seconds (user + system, all threads) the daemon has used so far. */
double daemon_cpu_s(void)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)daemon_pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	p = strrchr(buf, ')');
	/* fields after ")": state(3) ... utime(14) stime(15) */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

json_t *bench_json_of(const char *cmd, const char *what)
{
	char buf[16384];
	json_error_t e;
	json_t *o;
	size_t n;
	FILE *p = popen(cmd, "r");

	if (!p)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	pclose(p);
	o = json_loads(buf, 0, &e);
	if (!o && what)
		fprintf(stderr, "bench-rvfd: %s said: %s\n", what, buf);
	return o;
}

/* rvf-load --json against ip:port; returns answered QPS (0 on failure). */
static double load_run(const char *ip, uint16_t port, const char *qfile, double bad_fraction, json_t **out)
{
	char cmd[3 * PATH_MAX];
	json_t *o;
	double qps;

	snprintf(cmd, sizeof(cmd), "%s/rvf-load %s:%u --ns 1 --queries %s --seconds 3 --inflight 4 "
		 "--bad-fraction %.3f --bad-kinds magic,dim,ns,truncated --json", bindir, ip, port, qfile,
		 bad_fraction);
	o = bench_json_of(cmd, "rvf-load");
	if (!o)
		return 0;
	qps = json_real_value(json_object_get(o, "qps"));
	*out = o;
	return qps;
}

static json_t *stats_of(const char *ip, uint16_t port)
{
	char cmd[PATH_MAX + 128];

	snprintf(cmd, sizeof(cmd), "%s/rvf stats %s:%u --json", bindir, ip, port);
	return bench_json_of(cmd, NULL);
}

/* Flood phase with one daemon configuration. */
static void flood(const char *label, const char *store, const char *qfile, const char *extra,
		  const char *logdir, double *ratio_out, double *cpu_ratio_out, char *level, size_t level_len)
{
	char log[PATH_MAX], filter[512] = "";
	uint16_t port;
	json_t *base = NULL, *fl = NULL, *st;
	double q0, q1, cpu_a[3], cpu_b[3], cq0 = 0, cq1 = 0;

	snprintf(log, sizeof(log), "%s/bench-rvfd-%s.log", logdir, label);
	port = start_rvfd(log, NULL, store, "127.0.0.1:0", extra, filter, sizeof(filter));
	*ratio_out = -1;
	*cpu_ratio_out = -1;
	if (!port) {
		fprintf(stderr, "bench-rvfd: flood %s: rvfd did not start (%s)\n", label, log);
		return;
	}
	snprintf(level, level_len, "%s", filter);
	/* alternate no-flood and flood runs and take medians: this machine is
	 * shared, and a neighbour's build would otherwise land in one side */
	{
		double a[3], b[3], c0;

		for (int r = 0; r < 3; r++) {
			json_decref(base);
			json_decref(fl);
			base = fl = NULL;
			c0 = daemon_cpu_s();
			a[r] = load_run("127.0.0.1", port, qfile, 0, &base);
			cpu_a[r] = a[r] > 0 ? (daemon_cpu_s() - c0) / (a[r] * 2) : 0;
			c0 = daemon_cpu_s();
			b[r] = load_run("127.0.0.1", port, qfile, 10.0 / 11.0, &fl);
			cpu_b[r] = b[r] > 0 ? (daemon_cpu_s() - c0) / (b[r] * 2) : 0;
		}
		q0 = pct(a, 3, 0.5);
		q1 = pct(b, 3, 0.5);
		cq0 = pct(cpu_a, 3, 0.5);
		cq1 = pct(cpu_b, 3, 0.5);
	}
	st = stats_of("127.0.0.1", port);
	stop_rvfd();
	if (!base || !fl || q0 <= 0) {
		fprintf(stderr, "bench-rvfd: flood %s: a load run failed\n", label);
		json_decref(base);
		json_decref(fl);
		json_decref(st);
		return;
	}
	*ratio_out = q1 / q0;
	*cpu_ratio_out = cq1 > 0 ? cq0 / cq1 : -1;
	printf("{\"bench\":\"rvfd_flood\",\"filters\":\"%s\",\"filter_level\":\"%s\",\"runs\":\"3x2s\","
	       "\"inflight\":4,\"qps_no_flood\":%.0f,\"qps_flood\":%.0f,\"ratio\":%.3f,"
	       "\"daemon_cpu_us_per_query_no_flood\":%.1f,\"daemon_cpu_us_per_query_flood\":%.1f,"
	       "\"cpu_ratio\":%.3f,"
	       "\"bad_sent\":%lld,\"bad_answered\":%lld,\"lost_flood\":%lld,\"p50_us_no_flood\":%.1f,"
	       "\"p50_us_flood\":%.1f,\"user_bad_magic\":%lld,\"user_truncated\":%lld}\n",
	       label, st ? json_string_value(json_object_get(st, "filter_level")) : "?", q0, q1, q1 / q0,
	       cq0 * 1e6, cq1 * 1e6, *cpu_ratio_out,
	       (long long)json_integer_value(json_object_get(fl, "bad_total")),
	       (long long)json_integer_value(json_object_get(fl, "bad_answered")),
	       (long long)json_integer_value(json_object_get(fl, "lost")),
	       json_real_value(json_object_get(base, "p50_us")), json_real_value(json_object_get(fl, "p50_us")),
	       st ? (long long)json_integer_value(json_object_get(json_object_get(st, "user"), "bad_magic")) : -1,
	       st ? (long long)json_integer_value(json_object_get(json_object_get(st, "user"), "truncated")) : -1);
	fflush(stdout);
	json_decref(base);
	json_decref(fl);
	json_decref(st);
}

/* A store of base's rows (ids 0..n-1) at path, replacing any. 0 or -1. */
int bench_build_store(const char *path, const struct data_mat *base)
{
	struct rvf_store_opts o = { .dimension = base->dim };
	struct rvf_vector *vv = calloc(base->n, sizeof(*vv));
	struct rvf_ingest_result res = { 0 };
	struct rvf_store *s = NULL;
	int rc;

	unlink(path);
	for (size_t i = 0; i < base->n; i++)
		vv[i] = (struct rvf_vector){ .id = i, .values = base->v + i * base->dim, .dim = base->dim };
	if ((rc = rvf_store_create(path, &o, &s)) || (rc = rvf_store_ingest_batch(s, vv, base->n, &res)) ||
	    (rc = rvf_store_close(s))) {
		fprintf(stderr, "bench-rvfd: building %s: %s (%s)\n", path, rvf_strerror(rc), rvf_last_error());
		free(vv);
		return -1;
	}
	rvf_ingest_result_release(&res);
	free(vv);
	return 0;
}

/* Each query of qm searched in process, one at a time, as the daemon's
 * workers search (with a query context); out[i] its seconds (second pass:
 * the first warms the cache). 0 or -1. */
int bench_inproc(const char *path, const struct data_mat *qm, int k, int ef, double *out)
{
	struct rvf_query_ctx *ctx = NULL;
	struct rvf_store *s = NULL;
	int rc;

	if ((rc = rvf_store_open_readonly(path, NULL, &s))) {
		fprintf(stderr, "bench-rvfd: %s: %s\n", path, rvf_strerror(rc));
		return -1;
	}
	if (rvf_query_ctx_new(s, &ctx)) {
		fprintf(stderr, "bench-rvfd: query context: out of memory\n");
		rvf_store_close(s);
		return -1;
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < qm->n; i++) {
			struct rvf_result r[RVF_WIRE_MAX_K];
			struct rvf_query_opts qo = { .ef_search = (uint32_t)ef };
			double t0 = now_s();

			rvf_store_query_ctx(s, ctx, qm->v + i * qm->dim, qm->dim, (uint32_t)k, &qo, r);
			out[i] = now_s() - t0;
		}
	rvf_query_ctx_free(ctx);
	rvf_store_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("RVF_BENCH_DIR"), *quick = getenv("RVF_BENCH_QUICK");
	struct data_synth_opts so = { .n = quick && *quick == '1' ? 5000 : 20000, .nq = 1000, .dim = 128 };
	struct data_mat base = { 0 }, qm = { 0 };
	char store[PATH_MAX], qfile[PATH_MAX], log[PATH_MAX], self[PATH_MAX], *dn;
	double *inproc, *lat, in_p50, in_p99, lo_over = -1, veth_over = -1, r_on = -1, r_off = -1;
	double c_on = -1, c_off = -1;
	char level_on[512] = "", level_off[512] = "";
	ssize_t n;
	int rc;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	dn = strdup(self);
	snprintf(bindir, sizeof(bindir), "%s", dirname(dn));
	free(dn);
	if (!dir || !*dir)
		dir = "build/bench";
	mkdir(dir, 0755);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && !strcmp(argv[1], "afxdp"))
		return bench_afxdp(dir);
	if (argc > 1) {
		fprintf(stderr, "usage: bench-rvfd [afxdp]\n");
		return 2;
	}

	/* the store */
	rc = data_synth_clustered(&so, &base, &qm);
	if (rc) {
		fprintf(stderr, "bench-rvfd: synthetic data: %s\n", rvf_strerror(rc));
		return 1;
	}
	snprintf(store, sizeof(store), "%s/bench-rvfd-%zu.rvf", dir, base.n);
	snprintf(qfile, sizeof(qfile), "%s/bench-rvfd-queries.fvecs", dir);
	unlink(store);
	if (bench_build_store(store, &base))
		return 1;
	if (data_save_fvecs(qfile, qm.v, qm.n, qm.dim)) {
		fprintf(stderr, "bench-rvfd: cannot write %s\n", qfile);
		return 1;
	}

	/* in process: the same queries, one at a time, timed each */
	inproc = malloc(qm.n * sizeof(double));
	lat = malloc(qm.n * sizeof(double));
	if (bench_inproc(store, &qm, K, EF, inproc))
		return 1;
	in_p50 = pct(inproc, qm.n, 0.50);
	in_p99 = pct(inproc, qm.n, 0.99);
	printf("{\"bench\":\"rvfd_inproc\",\"n\":%zu,\"dim\":%u,\"nq\":%zu,\"k\":%d,\"ef\":%d,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f}\n", base.n, base.dim, qm.n, K, EF, in_p50 * 1e6, in_p99 * 1e6);
	fflush(stdout);

	/* loopback */
	snprintf(log, sizeof(log), "%s/bench-rvfd-loopback.log", dir);
	{
		uint16_t port = start_rvfd(log, NULL, store, "127.0.0.1:0", NULL, NULL, 0);

		if (port && measure("127.0.0.1", port, qm.v, qm.n, qm.dim, lat) == 0)
			report_latency("loopback", lat, qm.n, in_p50, in_p99, &lo_over);
		else
			fprintf(stderr, "bench-rvfd: loopback latency run failed (%s)\n", log);
		stop_rvfd();
	}

	/* veth between two namespaces */
	if (geteuid() != 0) {
		printf("{\"bench\":\"rvfd_latency\",\"path\":\"veth\",\"skipped\":\"needs root\"}\n");
	} else {
		if (netpair_setup(&bench_pair, "rvb", 202, 0, 0)) {
			fprintf(stderr, "bench-rvfd: cannot set up the veth pair\n");
		} else {
			char listen[32];
			uint16_t port;
			int pfd[2];

			snprintf(log, sizeof(log), "%s/bench-rvfd-veth.log", dir);
			snprintf(listen, sizeof(listen), "%s:0", bench_pair.srv_ip);
			port = start_rvfd(log, bench_pair.srv, store, listen, NULL, NULL, 0);
			if (port && pipe(pfd) == 0) {
				pid_t c = fork();

				if (c == 0) {
					if (netns_enter(bench_pair.cli) ||
					    measure(bench_pair.srv_ip, port, qm.v, qm.n, qm.dim, lat))
						_exit(1);
					if (write(pfd[1], lat, qm.n * sizeof(double)) != (ssize_t)(qm.n * sizeof(double)))
						_exit(2);
					_exit(0);
				}
				close(pfd[1]);
				{
					size_t got = 0;
					ssize_t r;
					int st;

					while ((r = read(pfd[0], (char *)lat + got, qm.n * sizeof(double) - got)) > 0)
						got += (size_t)r;
					waitpid(c, &st, 0);
					if (got == qm.n * sizeof(double))
						report_latency("veth", lat, qm.n, in_p50, in_p99, &veth_over);
					else
						fprintf(stderr, "bench-rvfd: veth latency run failed\n");
				}
				close(pfd[0]);
			}
			stop_rvfd();
		}
		cleanup();
	}

	/* flood, filters on (what the daemon picks) and off (--no-bpf) */
	flood("on", store, qfile, NULL, dir, &r_on, &c_on, level_on, sizeof(level_on));
	{
		char help[256] = "";
		FILE *p;
		char cmd[PATH_MAX + 32];

		/* --no-bpf exists once the daemon has a kernel filter to turn off */
		snprintf(cmd, sizeof(cmd), "%s/rvfd --help", bindir);
		p = popen(cmd, "r");
		while (p && fgets(help, sizeof(help), p))
			if (strstr(help, "--no-bpf"))
				break;
		if (p)
			pclose(p);
		if (strstr(help, "--no-bpf"))
			flood("off", store, qfile, "--no-bpf", dir, &r_off, &c_off, level_off, sizeof(level_off));
		else
			snprintf(level_off, sizeof(level_off), "(same as on: no kernel filter in this build)");
	}

	printf("summary: p50 overhead over in-process search %.1f us on loopback (goal < 20), %.1f us on "
	       "veth; in-process p50 %.1f us. Good-query throughput under a 10x flood: %.2f of no-flood "
	       "with filters on [%s] (goal >= 0.9), %.2f with filters off [%s]; the daemon's CPU per "
	       "answered query, no flood / flood: %.2f filters on, %.2f off (1.0 = the flood costs the "
	       "daemon nothing)\n",
	       lo_over, veth_over, in_p50 * 1e6, r_on, level_on, r_off, level_off, c_on, c_off);
	data_mat_release(&base);
	data_mat_release(&qm);
	free(inproc);
	free(lat);
	unlink(store);
	return bench_afxdp(dir);
}
