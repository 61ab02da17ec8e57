/*
 * tools/rvf/cmd_remote.c - the network client side of rvf: `rvf
 * remote-query` sends queries to an rvfd over UDP (include/rvf/wire.h) and
 * prints results in the same form as `rvf query`, so the two outputs can be
 * compared byte for byte; `rvf stats` asks an rvfd for its counters.
 *
 * Reliability: UDP may lose a datagram either way, so each query waits
 * --timeout-ms for its reply and is then sent again with the same
 * request_id (at most --retries times). A reply is matched by request_id;
 * a late duplicate of one already answered is ignored. With --window W up
 * to W queries are in flight at once (1 = one at a time, the latency view).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "rvf/svc.h"
#include "cli.h"
#include "input.h"
#include "rvf/wire.h"

static const char remote_usage[] =
	"usage: rvf remote-query ADDR:PORT --ns N (--vector v1,v2,... | --queries Q)\n"
	"                        [--k 10] [--ef 0] [--filter-id ID] [--timeout-ms 1000]\n"
	"                        [--retries 3] [--window 1] [--json] [--no-results] [--limit N]\n"
	"\n"
	"Sends k-NN queries to an rvfd (UDP, include/rvf/wire.h) and prints what it\n"
	"answers, in the same form as `rvf query`.\n"
	"\n"
	"  ADDR:PORT       the daemon, e.g. 127.0.0.1:7407 or [::1]:7407\n"
	"  --ns N          namespace (store) to search\n"
	"  --vector LIST   one query, comma-separated; prints `rank id distance` lines\n"
	"                  (one JSON object with --json)\n"
	"  --queries Q     a file of queries (fvecs, bvecs, npy, idx, csv, jsonl; --format);\n"
	"                  prints one JSON line per query {\"query\":i,\"results\":[...]}\n"
	"                  and, on stderr, count, QPS and p50/p99/p999 latency\n"
	"  --format F      format of the --queries file\n"
	"  --k K           neighbours per query, 1..100 (default 10)\n"
	"  --ef E          search beam; 0 = the daemon's default (default 0)\n"
	"  --filter-id ID  a filter configured in rvfd with --filter ID=JSON\n"
	"  --timeout-ms T  wait this long for a reply before sending again (default 1000)\n"
	"  --retries R     resend a query at most R times (default 3), same request_id\n"
	"  --window W      queries in flight at once (default 1)\n"
	"  --no-results    with --queries: do not print the per-query lines\n"
	"  --limit N       with --queries: only the first N queries\n"
	"\n"
	"Exit status: 0 when every query got an OK reply; 1 when one got an error\n"
	"status (printed) or no reply after its retries; 2 usage error.\n";

static const char stats_usage[] =
	"usage: rvf stats ADDR:PORT [--json] [--timeout-ms 1000] [--retries 3]\n"
	"       rvf stats --pin-dir DIR [--json]\n"
	"\n"
	"Asks an rvfd for its counters (a stats request datagram) and prints them:\n"
	"filter level, I/O path, queries, replies by status, userspace drops by\n"
	"reason, the kernel filter's counters, latency percentiles, namespaces.\n"
	"--json prints the daemon's JSON as it came.\n"
	"\n"
	"With --pin-dir (e.g. /sys/fs/bpf/rvf/default) it reads the counters map a\n"
	"running rvfd pinned there instead, without asking the daemon: the XDP and\n"
	"socket-filter programs' counters and the daemon's own validator's, summed\n"
	"over CPUs (needs read access to the pins, usually root).\n";

static void print_wire_counters(const char *title, const struct rvf_wire_counters *c, bool json)
{
	struct rvf_wire_counters z = *c;
	bool any = false;

	if (json) {
		printf("\"%s\":{", title);
		for (int r = 0; r < RVF_WIRE_R_NREASONS; r++)
			printf("%s\"%s\":%llu", r ? "," : "", rvf_wire_reason_name(r),
			       (unsigned long long)*rvf_wire_counter_field(&z, r));
		printf(",\"other_passed\":%llu,\"fragments\":%llu,\"redirected\":%llu}",
		       (unsigned long long)c->other_passed, (unsigned long long)c->fragments,
		       (unsigned long long)c->redirected);
		return;
	}
	printf("%s:", title);
	for (int r = 0; r < RVF_WIRE_R_NREASONS; r++) {
		uint64_t v = *rvf_wire_counter_field(&z, r);

		if (v) {
			printf(" %s %llu", rvf_wire_reason_name(r), (unsigned long long)v);
			any = true;
		}
	}
	if (c->other_passed || c->fragments || c->redirected) {
		printf(" other_passed %llu fragments %llu redirected %llu", (unsigned long long)c->other_passed,
		       (unsigned long long)c->fragments, (unsigned long long)c->redirected);
		any = true;
	}
	printf("%s\n", any ? "" : " all 0");
}

static int stats_from_pins(const char *dir, bool json)
{
	static const struct { uint32_t slot; const char *name; } slots[] = {
		{ RVF_WIRE_SLOT_XDP, "xdp" }, { RVF_WIRE_SLOT_SOCK, "sock" }, { RVF_WIRE_SLOT_USER, "user" },
	};
	struct rvf_wire_counters c[3];

	for (int i = 0; i < 3; i++) {
		cli_clear_lib_err();
		if (rvf_bpf_counters_pinned(dir, slots[i].slot, &c[i])) {
			cli_err("%s: cannot read the pinned counters: %s", dir,
				cli_lib_detail()[0] ? cli_lib_detail() : "no such map");
			return 1;
		}
	}
	if (json)
		printf("{\"pin_dir\":\"%s\",", dir);
	else
		printf("counters pinned in %s (per program, summed over CPUs):\n", dir);
	for (int i = 0; i < 3; i++) {
		if (json && i)
			putchar(',');
		print_wire_counters(slots[i].name, &c[i], json);
	}
	if (json)
		puts("}");
	return 0;
}

struct remote {
	int fd;
	uint64_t rid_base;
	uint32_t timeout_ms, retries;
};

static int remote_open(const char *addr_s, struct remote *r)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	cli_clear_lib_err();
	if (rvf_svc_addr_parse(addr_s, &ss, &sslen)) {
		cli_err("%s", cli_lib_detail());
		return -EINVAL;
	}
	r->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		cli_err("socket: %s", strerror(errno));
		return -errno;
	}
	/* connected: only the daemon's datagrams reach us, and an ICMP port
	 * unreachable surfaces as ECONNREFUSED */
	if (connect(r->fd, (struct sockaddr *)&ss, sslen)) {
		cli_err("%s: connect: %s", addr_s, strerror(errno));
		close(r->fd);
		return -errno;
	}
	if (getrandom(&r->rid_base, sizeof(r->rid_base), 0) != sizeof(r->rid_base))
		r->rid_base = (uint64_t)(cli_now() * 1e9);
	r->rid_base &= ~0xffffffffull;   /* low 32 bits: the query index */
	return 0;
}

static void print_results_json(FILE *f, const uint8_t *rep, const struct rvf_wire_reply *h)
{
	fputs("\"results\":[", f);
	for (uint16_t i = 0; i < h->count; i++) {
		struct rvf_wire_result r;

		rvf_wire_reply_result(rep, i, &r);
		fprintf(f, "%s{\"id\":%llu,\"distance\":%.9g}", i ? "," : "", (unsigned long long)r.id,
			(double)r.distance);
	}
	fputc(']', f);
}

/* Per query state. */
struct pend {
	double first_sent, last_sent, latency;
	uint32_t tries;
	bool done;
	uint8_t status;
	uint8_t *reply;              /* owned copy of the reply */
	size_t reply_len;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)ceil(q * (double)n);
	return sorted[i ? i - 1 : 0];
}

int cmd_remote_query(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ns", required_argument, 0, 'n' }, { "vector", required_argument, 0, 'v' },
		{ "queries", required_argument, 0, 'Q' }, { "format", required_argument, 0, 'F' },
		{ "k", required_argument, 0, 'k' }, { "ef", required_argument, 0, 'e' },
		{ "filter-id", required_argument, 0, 'f' }, { "timeout-ms", required_argument, 0, 'T' },
		{ "retries", required_argument, 0, 'r' }, { "window", required_argument, 0, 'w' },
		{ "json", no_argument, 0, 'j' }, { "no-results", no_argument, 0, 'N' },
		{ "limit", required_argument, 0, 'l' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *vec_arg = NULL, *qpath = NULL;
	enum input_fmt fmt = IN_FVECS;
	bool have_fmt = false, json = false, no_results = false, have_ns = false;
	uint32_t ns = 0, k = 10, ef = 0, filter_id = 0, window = 1, dim = 0;
	uint64_t limit = UINT64_MAX;
	struct remote r = { .fd = -1, .timeout_ms = 1000, .retries = 3 };
	struct pend *p = NULL;
	float *q = NULL;
	size_t nq = 0, done = 0, next = 0, inflight = 0, failed = 0;
	uint64_t resent = 0;
	double *lat = NULL, t0, secs;
	size_t *fl = NULL;
	uint8_t *pkt = NULL, rbuf[2048];
	int c, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, remote_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'n':
			if (cli_u32("--ns", optarg, 0, RVF_WIRE_MAX_NS - 1, &ns))
				return EXIT_USAGE;
			have_ns = true;
			break;
		case 'v': vec_arg = optarg; break;
		case 'Q': qpath = optarg; break;
		case 'F':
			if (input_fmt_parse(optarg, &fmt)) {
				cli_err("--format: unknown format '%s'", optarg);
				return EXIT_USAGE;
			}
			have_fmt = true;
			break;
		case 'k':
			if (cli_u32("--k", optarg, 1, RVF_WIRE_MAX_K, &k))
				return EXIT_USAGE;
			break;
		case 'e':
			if (cli_u32("--ef", optarg, 0, 65535, &ef))
				return EXIT_USAGE;
			break;
		case 'f':
			if (cli_u32("--filter-id", optarg, 0, UINT32_MAX, &filter_id))
				return EXIT_USAGE;
			break;
		case 'T':
			if (cli_u32("--timeout-ms", optarg, 1, 600000, &r.timeout_ms))
				return EXIT_USAGE;
			break;
		case 'r':
			if (cli_u32("--retries", optarg, 0, 1000, &r.retries))
				return EXIT_USAGE;
			break;
		case 'w':
			if (cli_u32("--window", optarg, 1, 4096, &window))
				return EXIT_USAGE;
			break;
		case 'j': json = true; break;
		case 'N': no_results = true; break;
		case 'l':
			if (cli_u64("--limit", optarg, &limit) || limit == 0) {
				if (limit == 0)
					cli_err("--limit: must be at least 1");
				return EXIT_USAGE;
			}
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_err("expected one ADDR:PORT (see rvf remote-query --help)");
		return EXIT_USAGE;
	}
	if (!have_ns) {
		cli_err("--ns N is required (see rvf remote-query --help)");
		return EXIT_USAGE;
	}
	if (!!vec_arg == !!qpath) {
		cli_err("give exactly one of --vector and --queries");
		return EXIT_USAGE;
	}
	if (ef && ef < k) {
		cli_err("--ef %u is smaller than --k %u (0 lets the daemon choose)", ef, k);
		return EXIT_USAGE;
	}
	if (vec_arg) {
		if (cli_float_list("--vector", vec_arg, &q, &dim))
			return EXIT_USAGE;
		nq = 1;
	} else {
		/* the width comes from the file; the daemon checks it against the store */
		struct input *in = NULL;
		struct input_batch b = { 0 };
		size_t cap = 0;
		long got;

		if (!have_fmt && input_fmt_guess(qpath, &fmt)) {
			cli_err("%s: cannot tell the format from the name; use --format", qpath);
			return EXIT_USAGE;
		}
		if (input_open(qpath, fmt, 0, &in))
			return 1;
		while ((got = input_next(in, &b, 4096)) > 0 && nq < limit) {
			if (b.n_bad) {
				cli_err("%s: line %llu: %s", qpath, (unsigned long long)b.bad[0].pos, b.bad[0].why);
				got = -EINVAL;
				break;
			}
			for (size_t i = 0; i < b.n && nq < limit; i++) {
				if (!dim)
					dim = b.dim[i];
				if (b.dim[i] != dim || dim > RVF_WIRE_MAX_DIM) {
					cli_err("%s: row %llu has %u values (the first had %u; the wire carries "
						"at most %u)", qpath, (unsigned long long)b.pos[i], b.dim[i], dim,
						RVF_WIRE_MAX_DIM);
					got = -EINVAL;
					break;
				}
				if (nq == cap) {
					size_t nc = cap ? 2 * cap : 1024;
					float *nqv = realloc(q, nc * dim * sizeof(float));

					if (!nqv) {
						got = -ENOMEM;
						break;
					}
					q = nqv;
					cap = nc;
				}
				memcpy(q + nq * dim, b.vals + b.off[i], dim * sizeof(float));
				nq++;
			}
			if (got < 0)
				break;
		}
		input_batch_release(&b);
		input_close(in);
		if (got < 0)
			goto out;
		if (!nq) {
			cli_err("%s: no query vectors", qpath);
			goto out;
		}
	}
	if (dim > RVF_WIRE_MAX_DIM) {
		cli_err("--vector has %u values; the wire carries at most %u", dim, RVF_WIRE_MAX_DIM);
		goto out;
	}
	if (remote_open(argv[optind], &r))
		goto out;
	p = calloc(nq, sizeof(*p));
	lat = malloc(nq * sizeof(*lat));
	fl = malloc(window * sizeof(*fl));
	pkt = malloc(RVF_WIRE_QUERY_HDR_LEN + (size_t)dim * 4);
	if (!p || !lat || !fl || !pkt) {
		cli_err("out of memory");
		goto out;
	}

	t0 = cli_now();
	while (done < nq) {
		double now = cli_now(), wait_s = (double)r.timeout_ms / 1000;
		struct pollfd pf = { .fd = r.fd, .events = POLLIN };
		int pr;

		/* start new ones, then (re)send what is due: new, or overdue with
		 * the same request_id */
		while (inflight < window && next < nq) {
			p[next].first_sent = now;
			fl[inflight++] = next++;
		}
		for (size_t f = 0; f < inflight; f++) {
			size_t i = fl[f];
			struct rvf_wire_query h;
			int len;

			if (p[i].tries && now - p[i].last_sent < (double)r.timeout_ms / 1000)
				continue;
			if (p[i].tries > r.retries) {
				cli_err("query %zu: no reply from %s after %u tries of %u ms", i, argv[optind],
					p[i].tries, r.timeout_ms);
				goto out;
			}
			rvf_wire_query_init(&h);
			h.dim = (uint16_t)dim;
			h.elem_type = RVF_WIRE_ELEM_F32;
			h.k = (uint16_t)k;
			h.ef = (uint16_t)ef;
			h.ns_id = ns;
			h.filter_id = filter_id;
			h.request_id = r.rid_base | i;
			len = rvf_wire_query_encode(&h, q + i * dim, pkt, RVF_WIRE_QUERY_HDR_LEN + (size_t)dim * 4);
			/* ECONNREFUSED: nobody listening (yet); a lost try like any other */
			if (len < 0 || (send(r.fd, pkt, (size_t)len, 0) < 0 && errno != ECONNREFUSED &&
					errno != EINTR)) {
				cli_err("%s: send: %s", argv[optind], len < 0 ? "cannot encode" : strerror(errno));
				goto out;
			}
			if (p[i].tries)
				resent++;
			p[i].tries++;
			p[i].last_sent = now;
		}
		for (size_t f = 0; f < inflight; f++) {
			double left = p[fl[f]].last_sent + (double)r.timeout_ms / 1000 - now;

			if (left < wait_s)
				wait_s = left;
		}
		if (wait_s < 0)
			wait_s = 0;
		pr = poll(&pf, 1, (int)(wait_s * 1000) + 1);
		if (pr < 0 && errno != EINTR) {
			cli_err("poll: %s", strerror(errno));
			goto out;
		}
		for (;;) {
			struct rvf_wire_reply h;
			ssize_t n = recv(r.fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
			uint64_t idx;

			if (n < 0)
				break;
			if (rvf_wire_reply_parse(rbuf, (size_t)n, &h))
				continue;   /* not a reply: ignore */
			idx = h.request_id - r.rid_base;
			if ((h.request_id & ~0xffffffffull) != r.rid_base || idx >= next || p[idx].done)
				continue;   /* someone else's, or a duplicate after a resend */
			p[idx].done = true;
			p[idx].status = h.status;
			p[idx].latency = cli_now() - p[idx].first_sent;
			p[idx].reply = malloc((size_t)n);
			if (!p[idx].reply) {
				cli_err("out of memory");
				goto out;
			}
			memcpy(p[idx].reply, rbuf, (size_t)n);
			p[idx].reply_len = (size_t)n;
			done++;
			for (size_t f = 0; f < inflight; f++)
				if (fl[f] == idx) {
					fl[f] = fl[--inflight];
					break;
				}
		}
	}
	secs = cli_now() - t0;

	for (size_t i = 0; i < nq; i++) {
		struct rvf_wire_reply h;

		rvf_wire_reply_parse(p[i].reply, p[i].reply_len, &h);
		lat[i] = p[i].latency;
		if (h.status != RVF_WIRE_OK) {
			failed++;
			cli_err("query %zu: %s", i, rvf_wire_status_name(h.status));
			if (vec_arg || no_results)
				continue;
			printf("{\"query\":%zu,\"status\":\"%s\"}\n", i, rvf_wire_status_name(h.status));
			continue;
		}
		if (vec_arg && json) {
			putchar('{');
			print_results_json(stdout, p[i].reply, &h);
			puts("}");
		} else if (vec_arg) {
			for (uint16_t j = 0; j < h.count; j++) {
				struct rvf_wire_result res;

				rvf_wire_reply_result(p[i].reply, j, &res);
				printf("%u %llu %.9g\n", j + 1, (unsigned long long)res.id, (double)res.distance);
			}
		} else if (!no_results) {
			printf("{\"query\":%zu,", i);
			print_results_json(stdout, p[i].reply, &h);
			puts("}");
		}
	}
	if (fflush(stdout)) {
		cli_err("write error on standard output: %s", strerror(errno));
		goto out;
	}
	if (qpath) {
		qsort(lat, nq, sizeof(*lat), cmp_double);
		fprintf(stderr, "queries %zu, %.3f s, %.0f QPS, latency p50 %.1f us p99 %.1f us p999 %.1f us "
			"(k %u, window %u, resent %llu%s)\n", nq, secs, secs > 0 ? (double)nq / secs : 0.0,
			pct(lat, nq, 0.50) * 1e6, pct(lat, nq, 0.99) * 1e6, pct(lat, nq, 0.999) * 1e6, k,
			window, (unsigned long long)resent, failed ? ", with errors" : "");
	}
	ret = failed ? 1 : 0;
out:
	if (p)
		for (size_t i = 0; i < nq; i++)
			free(p[i].reply);
	free(p);
	free(lat);
	free(fl);
	free(pkt);
	free(q);
	if (r.fd >= 0)
		close(r.fd);
	return ret;
}

/* ---- stats ---------------------------------------------------------------- */

static void print_counters(const char *title, json_t *c)
{
	const char *key;
	json_t *v;
	bool any = false;

	printf("%s:", title);
	if (!json_is_object(c)) {
		printf(" (not attached)\n");
		return;
	}
	json_object_foreach(c, key, v) {
		if (json_integer_value(v)) {
			printf(" %s %lld", key, (long long)json_integer_value(v));
			any = true;
		}
	}
	printf("%s\n", any ? "" : " all 0");
}

static int print_stats_text(const char *text, size_t len)
{
	json_error_t err;
	json_t *o = json_loadb(text, len, 0, &err), *v, *ns, *kern;
	size_t i;

	if (!o) {
		cli_err("the daemon's stats are not JSON: %s", err.text);
		return 1;
	}
	printf("instance %s, up %.1f s, io %s%s%s, filter %s%s%s, %lld threads\n",
	       json_string_value(json_object_get(o, "instance")),
	       json_real_value(json_object_get(o, "uptime_s")),
	       json_string_value(json_object_get(o, "io")),
	       *json_string_value(json_object_get(o, "io_fallback")) ? " - " : "",
	       json_string_value(json_object_get(o, "io_fallback")),
	       json_string_value(json_object_get(o, "filter_level")),
	       *json_string_value(json_object_get(o, "filter_note")) ? " - " : "",
	       json_string_value(json_object_get(o, "filter_note")),
	       (long long)json_integer_value(json_object_get(o, "threads")));
	printf("datagrams %lld, queries searched %lld, stats requests %lld\n",
	       (long long)json_integer_value(json_object_get(o, "datagrams")),
	       (long long)json_integer_value(json_object_get(o, "queries")),
	       (long long)json_integer_value(json_object_get(o, "stats_requests")));
	print_counters("replies", json_object_get(o, "replies"));
	print_counters("userspace verdicts", json_object_get(o, "user"));
	kern = json_object_get(o, "kernel");
	if (json_is_object(kern)) {
		print_counters("kernel xdp", json_object_get(kern, "xdp"));
		print_counters("kernel socket filter", json_object_get(kern, "sock"));
	} else {
		printf("kernel counters: none (filter level %s)\n",
		       json_string_value(json_object_get(o, "filter_level")));
	}
	v = json_object_get(o, "afxdp");
	if (json_is_object(v)) {
		/* the integer fields only: mode and note are the line above */
		printf("afxdp: %s - %s\n", json_string_value(json_object_get(v, "mode")),
		       json_string_value(json_object_get(v, "note")));
		print_counters("afxdp counters", v);
		print_counters("afxdp XDP_STATISTICS", json_object_get(v, "xdp_statistics"));
	}
	v = json_object_get(o, "latency_us");
	printf("latency (receive to reply, us, log2 buckets): count %lld p50 <%lld p99 <%lld p999 <%lld\n",
	       (long long)json_integer_value(json_object_get(v, "count")),
	       (long long)json_integer_value(json_object_get(v, "p50")),
	       (long long)json_integer_value(json_object_get(v, "p99")),
	       (long long)json_integer_value(json_object_get(v, "p999")));
	ns = json_object_get(o, "namespaces");
	json_array_foreach(ns, i, v)
		printf("namespace %lld: %s, dim %lld, %lld live, epoch %lld, %lld commits picked up\n",
		       (long long)json_integer_value(json_object_get(v, "ns")),
		       json_string_value(json_object_get(v, "path")),
		       (long long)json_integer_value(json_object_get(v, "dim")),
		       (long long)json_integer_value(json_object_get(v, "live")),
		       (long long)json_integer_value(json_object_get(v, "epoch")),
		       (long long)json_integer_value(json_object_get(v, "refreshes")));
	json_decref(o);
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, 0, 'j' }, { "timeout-ms", required_argument, 0, 'T' },
		{ "retries", required_argument, 0, 'r' }, { "pin-dir", required_argument, 0, 'P' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct remote r = { .fd = -1, .timeout_ms = 1000, .retries = 3 };
	const char *pin_dir = NULL;
	bool json = false;
	static uint8_t buf[RVF_WIRE_MAX_DATAGRAM + 1];
	uint8_t req[RVF_WIRE_QUERY_HDR_LEN];
	int c, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, stats_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'j': json = true; break;
		case 'T':
			if (cli_u32("--timeout-ms", optarg, 1, 600000, &r.timeout_ms))
				return EXIT_USAGE;
			break;
		case 'r':
			if (cli_u32("--retries", optarg, 0, 1000, &r.retries))
				return EXIT_USAGE;
			break;
		case 'P': pin_dir = optarg; break;
		default: return EXIT_USAGE;
		}
	}
	if (pin_dir && optind == argc)
		return stats_from_pins(pin_dir, json);
	if (optind + 1 != argc || pin_dir) {
		cli_err("expected one ADDR:PORT, or --pin-dir DIR (see rvf stats --help)");
		return EXIT_USAGE;
	}
	if (remote_open(argv[optind], &r))
		return 1;
	rvf_wire_stats_request_encode(r.rid_base, req, sizeof(req));
	for (uint32_t t = 0; t <= r.retries; t++) {
		struct pollfd pf = { .fd = r.fd, .events = POLLIN };
		double until = cli_now() + (double)r.timeout_ms / 1000;

		if (send(r.fd, req, sizeof(req), 0) < 0 && errno != ECONNREFUSED) {
			cli_err("%s: send: %s", argv[optind], strerror(errno));
			goto out;
		}
		while (cli_now() < until) {
			const char *text;
			size_t len;
			ssize_t n;

			if (poll(&pf, 1, (int)((until - cli_now()) * 1000) + 1) <= 0)
				continue;
			n = recv(r.fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (n < 0 || rvf_wire_stats_reply_parse(buf, (size_t)n, &text, &len))
				continue;
			if (json) {
				fwrite(text, 1, len, stdout);
				putchar('\n');
				ret = 0;
			} else {
				ret = print_stats_text(text, len);
			}
			goto out;
		}
	}
	cli_err("no stats reply from %s after %u tries of %u ms", argv[optind], r.retries + 1, r.timeout_ms);
out:
	close(r.fd);
	return ret;
}
