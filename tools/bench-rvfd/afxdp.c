/*
 * bench-rvfd/afxdp.c - AF_XDP copy mode (`rvfd --xdp-mode afxdp`) against
 * the plain UDP path, on the same veth pair between two namespaces and the
 * same queries, in one run.
 *
 * Every daemon attaches the XDP prefilter natively on the server's veth end
 * (the UDP ones with --iface alone), so the only difference is whether valid
 * queries are redirected into the AF_XDP socket or passed to the stack. The
 * UDP path runs twice: with its default io_uring transport and with
 * RVF_IO=syscall (recvmmsg/sendmmsg; AF_XDP replies also go by sendmmsg),
 * because on veth the two differ more than the paths do.
 * Small shapes (dim 16, k 1, ef 16) keep the search cheap so the network
 * cost shows; the in-process search time of the same queries is measured
 * and subtracted.
 *
 * Per path, three interleaved rounds (UDP io_uring, UDP syscall, AF_XDP,
 * ...; the summary takes the median of each):
 *   latency   one query at a time from the client namespace: p50, p99, and
 *             p50 minus the in-process p50 (the network part)
 *   qps       rvf-load closed loop (16 in flight, 3 s): answered queries/s
 *   cpu       CPU per answered query during the load run: the daemon's own
 *             (utime + stime from /proc/PID/stat) and the whole machine's
 *             (busy jiffies from /proc/stat: client, softirqs, everyone),
 *             each also as cycles at the CPU's nominal MHz (/proc/cpuinfo).
 *             On veth the sender's CPU runs the receive path (softirq after
 *             veth_xmit, and the copy into the UMEM in copy mode), so the
 *             daemon's own CPU misses part of what a path costs; the
 *             machine-wide figure includes it but also the load generator.
 * The machine is shared (2 cores, other jobs): figures move between runs;
 * the ratios in the summary are from this run's interleaved rounds.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "rvf/rvf.h"

#define A_DIM 16
#define A_K   1
#define A_EF  16
#define A_NQ  1000

struct side {
	const char *name;               /* "udp_uring" | "udp_syscall" | "afxdp_copy" */
	const char *io;                 /* RVF_IO for the daemon, NULL = unset */
	double p50[3], p99[3], qps[3], dcpu[3], scpu[3];
};

static double cpu_mhz(void)
{
	char line[256];
	double mhz = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "cpu MHz", 7) && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1)
			break;
	if (f)
		fclose(f);
	return mhz;
}

/* Busy seconds of the whole machine so far (all CPUs). */
static double system_busy_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7]) : 0;

	if (f)
		fclose(f);
	if (n < 4)
		return 0;
	/* user nice system idle iowait irq softirq steal: all but idle, iowait */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

/* measure() from a child in the client namespace; lat filled. 0 or -1. */
static int latency_from_client(const char *ip, uint16_t port, const struct data_mat *qm, double *lat)
{
	int pfd[2], st;
	size_t got = 0, want = qm->n * sizeof(double);
	ssize_t r;
	pid_t c;

	if (pipe(pfd))
		return -1;
	c = fork();
	if (c == 0) {
		close(pfd[0]);
		if (netns_enter(bench_pair.cli) || measure(ip, port, qm->v, qm->n, qm->dim, lat))
			_exit(1);
		_exit(write(pfd[1], lat, want) == (ssize_t)want ? 0 : 2);
	}
	close(pfd[1]);
	while (c > 0 && (r = read(pfd[0], (char *)lat + got, want - got)) > 0)
		got += (size_t)r;
	close(pfd[0]);
	if (c > 0)
		waitpid(c, &st, 0);
	return got == want ? 0 : -1;
}

/* rvf-load in the client namespace; answered QPS, 0 on failure. */
static double load_from_client(const char *ip, uint16_t port, const char *qfile)
{
	char cmd[3 * PATH_MAX];
	json_t *o;
	double qps = 0;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s %s/rvf-load %s:%u --ns 1 --queries %s --seconds 3 "
		 "--inflight 16 --k %d --ef %d --json", bench_pair.cli, bindir, ip, port, qfile, A_K, A_EF);
	o = bench_json_of(cmd, "afxdp: rvf-load");
	if (!o)
		return 0;
	if (json_integer_value(json_object_get(o, "lost")) == 0)
		qps = json_real_value(json_object_get(o, "qps"));
	else
		fprintf(stderr, "bench-rvfd: afxdp: %lld queries lost in the load run\n",
			(long long)json_integer_value(json_object_get(o, "lost")));
	json_decref(o);
	return qps;
}

/* One round of one path. 0 or -1. */
static int round_of(struct side *sd, int r, const char *dir, const char *store, const char *qfile,
		    const char *extra, const struct data_mat *qm, double in_p50, double mhz)
{
	char log[PATH_MAX], text[8192] = "", listen[32];
	double *lat = malloc(qm->n * sizeof(double)), c0, s0, dc, sc;
	uint16_t port;
	int fd, rc = -1;
	ssize_t n;

	snprintf(log, sizeof(log), "%s/bench-rvfd-%s-%d.log", dir, sd->name, r);
	if (sd->io)
		setenv("RVF_IO", sd->io, 1);
	snprintf(listen, sizeof(listen), "%s:0", bench_pair.srv_ip);
	port = start_rvfd(log, bench_pair.srv, store, listen, extra, NULL, 0);
	unsetenv("RVF_IO");
	if (!port || !lat)
		goto out;
	fd = open(log, O_RDONLY);
	n = fd < 0 ? 0 : read(fd, text, sizeof(text) - 1);
	text[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	if (strstr(extra, "afxdp") && !strstr(text, "rvfd: afxdp: copy")) {
		fprintf(stderr, "bench-rvfd: afxdp: the daemon is not in copy mode:\n%s\n", text);
		goto out;
	}
	if (latency_from_client(bench_pair.srv_ip, port, qm, lat))
		goto out;
	sd->p50[r] = pct(lat, qm->n, 0.50);
	sd->p99[r] = pct(lat, qm->n, 0.99);
	c0 = daemon_cpu_s();
	s0 = system_busy_s();
	sd->qps[r] = load_from_client(bench_pair.srv_ip, port, qfile);
	dc = daemon_cpu_s() - c0;
	sc = system_busy_s() - s0;
	if (sd->qps[r] <= 0)
		goto out;
	sd->dcpu[r] = dc / (sd->qps[r] * 3);
	sd->scpu[r] = sc / (sd->qps[r] * 3);
	printf("{\"bench\":\"rvfd_afxdp\",\"path\":\"%s\",\"round\":%d,\"dim\":%d,\"k\":%d,\"ef\":%d,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p50_net_us\":%.1f,\"qps\":%.0f,"
	       "\"daemon_cpu_us_per_query\":%.2f,\"daemon_cycles_per_query\":%.0f,"
	       "\"system_cpu_us_per_query\":%.2f,\"system_cycles_per_query\":%.0f}\n",
	       sd->name, r, A_DIM, A_K, A_EF, sd->p50[r] * 1e6, sd->p99[r] * 1e6,
	       (sd->p50[r] - in_p50) * 1e6, sd->qps[r], sd->dcpu[r] * 1e6, sd->dcpu[r] * mhz * 1e6,
	       sd->scpu[r] * 1e6, sd->scpu[r] * mhz * 1e6);
	fflush(stdout);
	rc = 0;
out:
	stop_rvfd();
	free(lat);
	return rc;
}

#define ROUNDS 3

static double mid(const double *v)
{
	double c[ROUNDS];

	memcpy(c, v, sizeof(c));
	return pct(c, ROUNDS, 0.5);
}

int bench_afxdp(const char *dir)
{
	struct data_synth_opts so = { .n = 5000, .nq = A_NQ, .dim = A_DIM };
	struct data_mat base = { 0 }, qm = { 0 };
	struct side udp = { .name = "udp_uring", .io = "uring" };
	struct side sys = { .name = "udp_syscall", .io = "syscall" };
	struct side xdp = { .name = "afxdp_copy", .io = NULL };   /* its UDP workers: the default */
	char store[PATH_MAX], qfile[PATH_MAX], extra_udp[64], extra_xdp[96];
	double *inproc = NULL, in_p50, in_p99, mhz = cpu_mhz();
	int ok = 1, rc;

	if (geteuid() != 0) {
		printf("{\"bench\":\"rvfd_afxdp\",\"skipped\":\"needs root (namespaces, XDP, AF_XDP)\"}\n");
		return 0;
	}
	if ((rc = data_synth_clustered(&so, &base, &qm))) {
		fprintf(stderr, "bench-rvfd: afxdp: synthetic data: %s\n", rvf_strerror(rc));
		return 1;
	}
	snprintf(store, sizeof(store), "%s/bench-rvfd-afxdp.rvf", dir);
	snprintf(qfile, sizeof(qfile), "%s/bench-rvfd-afxdp-queries.fvecs", dir);
	inproc = malloc(qm.n * sizeof(double));
	if (!inproc || bench_build_store(store, &base) || data_save_fvecs(qfile, qm.v, qm.n, qm.dim) ||
	    bench_inproc(store, &qm, A_K, A_EF, inproc)) {
		fprintf(stderr, "bench-rvfd: afxdp: cannot prepare the data\n");
		return 1;
	}
	in_p50 = pct(inproc, qm.n, 0.50);
	in_p99 = pct(inproc, qm.n, 0.99);
	printf("{\"bench\":\"rvfd_afxdp_inproc\",\"n\":%zu,\"dim\":%u,\"k\":%d,\"ef\":%d,\"p50_us\":%.2f,"
	       "\"p99_us\":%.2f,\"cpu_mhz\":%.0f}\n", base.n, base.dim, A_K, A_EF, in_p50 * 1e6,
	       in_p99 * 1e6, mhz);
	bench_k = A_K;
	bench_ef = A_EF;

	if (netpair_setup(&bench_pair, "rvx", 203, 0, 0)) {
		fprintf(stderr, "bench-rvfd: afxdp: cannot set up the veth pair\n");
		cleanup();
		return 1;
	}
	snprintf(extra_udp, sizeof(extra_udp), "--iface %s", bench_pair.srv_if);
	snprintf(extra_xdp, sizeof(extra_xdp), "--iface %s --xdp-mode afxdp", bench_pair.srv_if);
	for (int r = 0; r < ROUNDS && ok; r++)
		ok = !round_of(&udp, r, dir, store, qfile, extra_udp, &qm, in_p50, mhz) &&
		     !round_of(&sys, r, dir, store, qfile, extra_udp, &qm, in_p50, mhz) &&
		     !round_of(&xdp, r, dir, store, qfile, extra_xdp, &qm, in_p50, mhz);
	cleanup();
	if (!ok) {
		fprintf(stderr, "bench-rvfd: afxdp: a round failed (logs in %s)\n", dir);
	} else {
		printf("summary: AF_XDP copy mode vs the UDP path on veth (dim %d, k %d; in-process search "
		       "p50 %.2f us subtracted; medians of %d interleaved rounds), AF_XDP / UDP io_uring "
		       "(default) / UDP syscall: p50 net %.1f / %.1f / %.1f us, p99 %.1f / %.1f / %.1f us; max "
		       "sustained %.0f / %.0f / %.0f QPS (AF_XDP x%.2f of io_uring, x%.2f of syscall); daemon "
		       "CPU per query %.0f / %.0f / %.0f cycles; whole machine %.0f / %.0f / %.0f cycles per "
		       "query at %.0f MHz (closed loop saturates both cores, so this is ~2 cores / QPS and "
		       "includes the load generator and other jobs)\n",
		       A_DIM, A_K, in_p50 * 1e6, ROUNDS, (mid(xdp.p50) - in_p50) * 1e6,
		       (mid(udp.p50) - in_p50) * 1e6, (mid(sys.p50) - in_p50) * 1e6, mid(xdp.p99) * 1e6,
		       mid(udp.p99) * 1e6, mid(sys.p99) * 1e6, mid(xdp.qps), mid(udp.qps), mid(sys.qps),
		       mid(xdp.qps) / mid(udp.qps), mid(xdp.qps) / mid(sys.qps), mid(xdp.dcpu) * mhz * 1e6,
		       mid(udp.dcpu) * mhz * 1e6, mid(sys.dcpu) * mhz * 1e6, mid(xdp.scpu) * mhz * 1e6,
		       mid(udp.scpu) * mhz * 1e6, mid(sys.scpu) * mhz * 1e6, mhz);
	}
	data_mat_release(&base);
	data_mat_release(&qm);
	free(inproc);
	unlink(store);
	unlink(qfile);
	return ok ? 0 : 1;
}
