/*
 * tools/rvf-load - load generator for rvfd: valid queries (from a vector
 * file, or random) mixed with a chosen fraction of invalid datagrams, for a
 * bounded time, open loop at a fixed rate or closed loop with N in flight.
 * Reports achieved QPS of answered queries, p50/p99/p999 latency, error
 * replies by status and losses (queries with no reply within the timeout).
 *
 * Bounds: --seconds at most 60 (a load test on a shared machine must end),
 * --qps at most 1,000,000, at most 65,536 queries in flight.
 *
 * Bad datagrams carry request ids the generator never waits for; replies to
 * them (an rvfd without a kernel filter answers wrong dim or namespace with
 * an error status) are counted as "bad_answered", not as query errors.
 *
 * The closed loop sends as soon as its window has room and waits (10 ms at
 * most per poll) only when the window is full; "stalls" counts the waits
 * that ended with no reply, i.e. the daemon kept every query in flight for
 * 10 ms. A healthy local daemon shows (almost) none.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "data/data.h"
#include "rvf/error.h"
#include "rvf/svc.h"
#include "rvf/wire.h"

#define MAX_SECONDS   60
#define MAX_INFLIGHT  65536u
#define BAD_RID_BIT   (1ull << 63)

static const char usage[] =
	"usage: rvf-load ADDR:PORT --ns N (--queries FILE | --dim D) [--seconds 5]\n"
	"                [--qps 0] [--inflight 16] [--bad-fraction 0] [--bad-kinds LIST]\n"
	"                [--bad-ns M] [--k 10] [--ef 0] [--timeout-ms 1000] [--seed S] [--json]\n"
	"\n"
	"  --queries FILE    query vectors (fvecs, bvecs or idx, optionally .gz); else random\n"
	"  --dim D           dimension of random query vectors (the store's)\n"
	"  --seconds S       how long to send, 1..60 (default 5)\n"
	"  --qps Q           valid queries per second, open loop; 0 = closed loop (default)\n"
	"  --inflight N      closed loop: valid queries in flight at once (default 16)\n"
	"  --bad-fraction F  fraction of all datagrams that are invalid, 0..0.99 (default 0);\n"
	"                    0.909 is a 10x flood (10 bad per valid query)\n"
	"  --bad-kinds LIST  which invalid kinds, in turn: magic,dim,ns,truncated (default all)\n"
	"  --bad-ns M        the namespace 'ns' datagrams name (default N xor 0x8000)\n"
	"  --k K, --ef E     query parameters (defaults 10, 0 = the daemon's)\n"
	"  --timeout-ms T    a query with no reply after T ms is lost (default 1000)\n"
	"  --json            one JSON object instead of text\n";

enum bad_kind { BAD_MAGIC, BAD_DIM, BAD_NS, BAD_TRUNC, BAD_NKINDS };
static const char *const bad_names[BAD_NKINDS] = { "magic", "dim", "ns", "truncated" };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state;
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static int load_vectors(const char *path, struct data_mat *m)
{
	enum data_format fmt = DATA_FMT_IDX;
	int rc;

	if (strstr(path, ".fvecs"))
		fmt = DATA_FMT_FVECS;
	else if (strstr(path, ".bvecs"))
		fmt = DATA_FMT_BVECS;
	rc = data_load(path, fmt, 100000, m);
	if (rc)
		fprintf(stderr, "rvf-load: %s: cannot read vectors: %s (%s)\n", path, rvf_strerror(rc),
			rvf_last_error());
	return rc;
}

static int parse_num(const char *opt, const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= min && v <= max)) {
		fprintf(stderr, "rvf-load: %s: '%s' is not a number in %g..%g\n", opt, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

struct slot {
	uint64_t rid;           /* 0 = free */
	double sent;
};

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ns", required_argument, 0, 'n' }, { "queries", required_argument, 0, 'Q' },
		{ "dim", required_argument, 0, 'd' }, { "seconds", required_argument, 0, 's' },
		{ "qps", required_argument, 0, 'q' }, { "inflight", required_argument, 0, 'i' },
		{ "bad-fraction", required_argument, 0, 'b' }, { "bad-kinds", required_argument, 0, 'K' },
		{ "bad-ns", required_argument, 0, 'B' }, { "k", required_argument, 0, 'k' },
		{ "ef", required_argument, 0, 'e' }, { "timeout-ms", required_argument, 0, 'T' },
		{ "seed", required_argument, 0, 'S' }, { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	double ns_d = -1, dim_d = 0, secs = 5, qps = 0, inflight_d = 16, badf = 0, badns_d = -1, k_d = 10,
	       ef_d = 0, tmo_d = 1000, seed_d = 1;
	const char *qpath = NULL;
	bool json = false, kinds_on[BAD_NKINDS] = { true, true, true, true };
	struct data_mat qm = { 0 };
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct slot *slots = NULL;
	float *lat = NULL, *vx = NULL;
	size_t nlat = 0, lat_cap = 0;
	uint8_t *pkt = NULL, rbuf[2048];
	uint64_t good_sent = 0, ok = 0, lost = 0, bad_sent[BAD_NKINDS] = { 0 }, bad_answered = 0,
		 err_status[RVF_WIRE_INTERNAL + 1] = { 0 }, send_fail = 0, stalls = 0, next_rid = 1, oldest = 1, qi = 0;
	unsigned inflight = 0, max_inflight, kind_turn = 0;
	double t0, t_end, bad_credit = 0, next_send;
	int fd = -1, c, ret = 1;
	uint32_t dim, ns, bad_ns;

	rvf_set_log(NULL, NULL, RVF_LOG_ERROR);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case 'h': fputs(usage, stdout); return 0;
		case 'n': rc = parse_num("--ns", optarg, 0, RVF_WIRE_MAX_NS - 1, &ns_d); break;
		case 'Q': qpath = optarg; break;
		case 'd': rc = parse_num("--dim", optarg, 1, RVF_WIRE_MAX_DIM, &dim_d); break;
		case 's': rc = parse_num("--seconds", optarg, 0.1, MAX_SECONDS, &secs); break;
		case 'q': rc = parse_num("--qps", optarg, 0, 1000000, &qps); break;
		case 'i': rc = parse_num("--inflight", optarg, 1, MAX_INFLIGHT, &inflight_d); break;
		case 'b': rc = parse_num("--bad-fraction", optarg, 0, 0.99, &badf); break;
		case 'B': rc = parse_num("--bad-ns", optarg, 0, RVF_WIRE_MAX_NS - 1, &badns_d); break;
		case 'k': rc = parse_num("--k", optarg, 1, RVF_WIRE_MAX_K, &k_d); break;
		case 'e': rc = parse_num("--ef", optarg, 0, 65535, &ef_d); break;
		case 'T': rc = parse_num("--timeout-ms", optarg, 1, 60000, &tmo_d); break;
		case 'S': rc = parse_num("--seed", optarg, 0, 1e18, &seed_d); break;
		case 'j': json = true; break;
		case 'K': {
			char *copy = strdup(optarg), *save = NULL, *tok;

			memset(kinds_on, 0, sizeof(kinds_on));
			for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				int kk;

				for (kk = 0; kk < BAD_NKINDS && strcmp(tok, bad_names[kk]); kk++)
					;
				if (kk == BAD_NKINDS) {
					fprintf(stderr, "rvf-load: --bad-kinds: unknown kind '%s' (magic, dim, ns, "
						"truncated)\n", tok);
					rc = -EINVAL;
					break;
				}
				kinds_on[kk] = true;
			}
			free(copy);
			break;
		}
		case ':':
			fprintf(stderr, "rvf-load: option '%s' needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "rvf-load: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return 2;
		}
		if (rc)
			return 2;
	}
	if (optind + 1 != argc || ns_d < 0 || (!qpath && !dim_d)) {
		fprintf(stderr, "rvf-load: expected ADDR:PORT, --ns and --queries or --dim (see --help)\n");
		return 2;
	}
	if (!kinds_on[0] && !kinds_on[1] && !kinds_on[2] && !kinds_on[3]) {
		fprintf(stderr, "rvf-load: --bad-kinds: no kind given\n");
		return 2;
	}
	if (rvf_svc_addr_parse(argv[optind], &ss, &sslen)) {
		fprintf(stderr, "rvf-load: %s\n", rvf_last_error());
		return 2;
	}
	ns = (uint32_t)ns_d;
	bad_ns = badns_d >= 0 ? (uint32_t)badns_d : ns ^ 0x8000u;
	rng_state = (uint64_t)seed_d;
	max_inflight = qps > 0 ? MAX_INFLIGHT : (unsigned)inflight_d;
	if (qpath) {
		if (load_vectors(qpath, &qm))
			return 1;
		if (dim_d && (uint32_t)dim_d != qm.dim) {
			fprintf(stderr, "rvf-load: %s has %u dimensions, --dim says %u\n", qpath, qm.dim,
				(uint32_t)dim_d);
			goto out;
		}
	} else {
		if (data_mat_alloc(&qm, 1024, (uint32_t)dim_d))
			goto out;
		for (size_t i = 0; i < qm.n * qm.dim; i++)
			qm.v[i] = (float)((double)(rng() >> 11) * 0x1.0p-53 * 2 - 1);
	}
	dim = qm.dim;
	if (dim > RVF_WIRE_MAX_DIM - 1) {
		fprintf(stderr, "rvf-load: dimension %u is more than the wire carries\n", dim);
		goto out;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sslen)) {
		fprintf(stderr, "rvf-load: %s: %s\n", argv[optind], strerror(errno));
		goto out;
	}
	{
		int big = 8 << 20;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	}
	slots = calloc(MAX_INFLIGHT, sizeof(*slots));
	pkt = malloc(RVF_WIRE_QUERY_HDR_LEN + ((size_t)dim + 1) * 4);
	vx = malloc(((size_t)dim + 1) * sizeof(float));
	if (!slots || !pkt || !vx) {
		fprintf(stderr, "rvf-load: out of memory\n");
		goto out;
	}

	t0 = now_s();
	t_end = t0 + secs;
	next_send = t0;
	for (;;) {
		double now = now_s();
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int wait_ms;

		/* send: closed loop fills the window; open loop follows the clock */
		while (now < t_end && inflight < max_inflight && (qps <= 0 || now >= next_send)) {
			struct rvf_wire_query h;
			const float *v = qm.v + (qi++ % qm.n) * dim;
			uint64_t rid = next_rid++;
			struct slot *s = &slots[rid % MAX_INFLIGHT];
			int len;

			if (s->rid)
				break;   /* the slot is still waiting: open loop outran the daemon */
			rvf_wire_query_init(&h);
			h.dim = (uint16_t)dim;
			h.k = (uint16_t)k_d;
			h.ef = (uint16_t)ef_d;
			h.ns_id = ns;
			h.request_id = rid;
			len = rvf_wire_query_encode(&h, v, pkt, RVF_WIRE_QUERY_HDR_LEN + (size_t)dim * 4);
			if (send(fd, pkt, (size_t)len, 0) < 0) {
				send_fail++;
			} else {
				s->rid = rid;
				s->sent = now;
				inflight++;
				good_sent++;
			}
			/* then the bad ones its share of the mix asks for */
			bad_credit += badf / (1 - badf);
			while (bad_credit >= 1) {
				enum bad_kind kd;

				bad_credit -= 1;
				do
					kd = (enum bad_kind)(kind_turn++ % BAD_NKINDS);
				while (!kinds_on[kd]);
				h.request_id = BAD_RID_BIT | rid;
				h.ns_id = ns;
				h.dim = (uint16_t)dim;
				len = rvf_wire_query_encode(&h, v, pkt, RVF_WIRE_QUERY_HDR_LEN + (size_t)dim * 4 + 4);
				switch (kd) {
				case BAD_MAGIC: pkt[0] = 'X'; break;
				case BAD_DIM:
					memcpy(vx, v, dim * sizeof(float));
					vx[dim] = 0.5f;
					h.dim = (uint16_t)(dim + 1);
					len = rvf_wire_query_encode(&h, vx, pkt, RVF_WIRE_QUERY_HDR_LEN + (size_t)(dim + 1) * 4);
					break;
				case BAD_NS:
					h.ns_id = bad_ns;
					len = rvf_wire_query_encode(&h, v, pkt, RVF_WIRE_QUERY_HDR_LEN + (size_t)dim * 4);
					break;
				case BAD_TRUNC: len = 16; break;
				default: break;
				}
				if (send(fd, pkt, (size_t)len, 0) < 0)
					send_fail++;
				else
					bad_sent[kd]++;
			}
			if (qps > 0)
				next_send += 1.0 / qps;
			now = now_s();
		}
		/* receive what is there */
		for (;;) {
			struct rvf_wire_reply h;
			ssize_t n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
			struct slot *s;

			if (n < 0)
				break;
			if (rvf_wire_reply_parse(rbuf, (size_t)n, &h))
				continue;
			if (h.request_id & BAD_RID_BIT) {
				bad_answered++;
				continue;
			}
			s = &slots[h.request_id % MAX_INFLIGHT];
			if (s->rid != h.request_id)
				continue;   /* late, already counted lost */
			if (h.status == RVF_WIRE_OK) {
				if (nlat == lat_cap) {
					size_t nc = lat_cap ? 2 * lat_cap : 1 << 16;
					float *nl = nlat < (64u << 20) ? realloc(lat, nc * sizeof(*lat)) : NULL;

					if (nl) {
						lat = nl;
						lat_cap = nc;
					}
				}
				if (nlat < lat_cap)
					lat[nlat++] = (float)((now_s() - s->sent) * 1e6);
				ok++;
			} else {
				err_status[h.status]++;
			}
			s->rid = 0;
			inflight--;
		}
		/* expire lost queries: send times grow with the request id, so
		 * the overdue ones are the oldest still outstanding */
		now = now_s();
		while (oldest < next_rid) {
			struct slot *s = &slots[oldest % MAX_INFLIGHT];

			if (s->rid == oldest) {
				if (now - s->sent <= tmo_d / 1000)
					break;
				s->rid = 0;
				inflight--;
				lost++;
			}
			oldest++;
		}
		if (now >= t_end && (!inflight || now > t_end + tmo_d / 1000))
			break;
		/* Wait only for something: a reply when the window is full or the
		 * run is over, the next send time in the open loop. A closed loop
		 * with room in its window sends again at once (waiting here let a
		 * closed loop with one query in flight make one per 10 ms). */
		wait_ms = -1;
		if (inflight >= max_inflight || now >= t_end)
			wait_ms = 10;
		else if (qps > 0 && next_send > now)
			wait_ms = (int)((next_send - now) * 1000);
		/* closed loop: a 10 ms wait that nothing ended is a stall */
		if (wait_ms > 0 && poll(&pf, 1, wait_ms > 10 ? 10 : wait_ms) == 0 && qps <= 0 && now < t_end)
			stalls++;
	}
	lost += inflight;
	{
		double elapsed = now_s() - t0, wall = secs < elapsed ? secs : elapsed;
		double p50 = 0, p99 = 0, p999 = 0;
		uint64_t bad_total = 0;

		if (nlat) {
			qsort(lat, nlat, sizeof(*lat), cmp_float);
			p50 = lat[(size_t)ceil(0.50 * (double)nlat) - 1];
			p99 = lat[(size_t)ceil(0.99 * (double)nlat) - 1];
			p999 = lat[(size_t)ceil(0.999 * (double)nlat) - 1];
		}
		for (int kd = 0; kd < BAD_NKINDS; kd++)
			bad_total += bad_sent[kd];
		if (json) {
			printf("{\"seconds\":%.3f,\"mode\":\"%s\",\"inflight\":%u,\"target_qps\":%.0f,"
			       "\"good_sent\":%llu,\"ok\":%llu,\"qps\":%.1f,\"lost\":%llu,"
			       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"errors\":{",
			       wall, qps > 0 ? "open" : "closed", qps > 0 ? 0 : max_inflight, qps,
			       (unsigned long long)good_sent, (unsigned long long)ok, (double)ok / wall,
			       (unsigned long long)lost, p50, p99, p999);
			for (int s = 1; s <= RVF_WIRE_INTERNAL; s++)
				printf("%s\"%s\":%llu", s > 1 ? "," : "", rvf_wire_status_name(s),
				       (unsigned long long)err_status[s]);
			printf("},\"bad_sent\":{");
			for (int kd = 0; kd < BAD_NKINDS; kd++)
				printf("%s\"%s\":%llu", kd ? "," : "", bad_names[kd], (unsigned long long)bad_sent[kd]);
			printf("},\"bad_total\":%llu,\"bad_answered\":%llu,\"send_failures\":%llu,"
			       "\"stalls\":%llu}\n",
			       (unsigned long long)bad_total, (unsigned long long)bad_answered,
			       (unsigned long long)send_fail, (unsigned long long)stalls);
		} else {
			printf("rvf-load: %.1f s %s loop (%s), %llu queries sent, %llu answered OK: %.0f QPS\n",
			       wall, qps > 0 ? "open" : "closed", qps > 0 ? "rate" : "in flight",
			       (unsigned long long)good_sent, (unsigned long long)ok, (double)ok / wall);
			printf("rvf-load: latency p50 %.1f us, p99 %.1f us, p999 %.1f us; lost %llu",
			       p50, p99, p999, (unsigned long long)lost);
			for (int s = 1; s <= RVF_WIRE_INTERNAL; s++)
				if (err_status[s])
					printf(", %s %llu", rvf_wire_status_name(s), (unsigned long long)err_status[s]);
			if (stalls)
				printf(", %llu stalls (10 ms with no reply)", (unsigned long long)stalls);
			printf("\n");
			if (bad_total) {
				printf("rvf-load: %llu invalid datagrams sent (", (unsigned long long)bad_total);
				for (int kd = 0, first = 1; kd < BAD_NKINDS; kd++)
					if (bad_sent[kd]) {
						printf("%s%s %llu", first ? "" : ", ", bad_names[kd],
						       (unsigned long long)bad_sent[kd]);
						first = 0;
					}
				printf("), %llu of them answered with an error status\n",
				       (unsigned long long)bad_answered);
			}
			if (send_fail)
				printf("rvf-load: %llu sends failed\n", (unsigned long long)send_fail);
		}
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	data_mat_release(&qm);
	free(slots);
	free(lat);
	free(pkt);
	free(vx);
	return ret;
}
