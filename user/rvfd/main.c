/*
 * rvfd/main.c - `rvfd`, the k-NN query daemon: options, start-up, signals
 * and shutdown. See rvfd.h for how the pieces fit.
 *
 * Start-up, in order (any failure: a message on stderr, exit 1; a usage
 * error: exit 2):
 *   parse options -> open every store read-only -> parse filters ->
 *   bind a probe socket without SO_REUSEPORT (so a port another process
 *   holds is an error, not a silent share) -> bind one SO_REUSEPORT socket
 *   per worker on that port -> the filter ladder (eBPF prefilter on every
 *   socket and XDP on --iface, else classic BPF, else userspace only) ->
 *   AF_XDP sockets on --iface (--xdp-mode afxdp; else or on failure the UDP
 *   path alone) -> choose the I/O path -> start workers and the store
 *   watcher -> print the summary -> wait for SIGTERM/SIGINT.
 * Shutdown: stop receiving, answer what is queued (SHUTTING_DOWN for
 * queries that were not yet searched), join workers, stop the watcher,
 * clear the XSKMAP and close the AF_XDP sockets, detach and unpin BPF,
 * close stores, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bpfload/bpfload.h"
#include "common/log.h"
#include "rvfd/rvfd.h"

#define EXIT_USAGE 2

static const char usage[] =
	"usage: rvfd --store NS=FILE [--store NS=FILE ...] --listen ADDR:PORT\n"
	"            [--threads N] [--ef N] [--filter ID=JSON ...] [--instance NAME]\n"
	"            [--max-wait-ms MS] [--poll-ms MS] [--iface IF [--xdp native|generic|off]]\n"
	"            [--pin-dir DIR] [--trust-ebpf] [--no-bpf]\n"
	"            [--xdp-mode filter|afxdp [--queues N|LIST] [--xsk-frame-size B]\n"
	"             [--xsk-rx-ring N] [--xsk-fill-ring N] [--xsk-frames N]]\n"
	"\n"
	"Serves k-nearest-neighbour queries over UDP (protocol: include/rvf/wire.h)\n"
	"from rvf stores opened read-only, one namespace id per store. Commits other\n"
	"processes make to a store are picked up while serving.\n"
	"\n"
	"  --store NS=FILE   serve FILE as namespace NS (0..65535); repeatable\n"
	"  --listen A:P      UDP address to bind: 127.0.0.1:7407, [::1]:7407, 0.0.0.0:7407;\n"
	"                    port 0 picks a free port (printed at start)\n"
	"  --threads N       worker threads, one SO_REUSEPORT socket each (default: CPUs)\n"
	"  --ef N            search beam for queries that send ef 0 (default 64)\n"
	"  --filter ID=JSON  a metadata filter queries select with filter_id ID (1..);\n"
	"                    JSON as for `rvf query --filter` (or @path); repeatable\n"
	"  --instance NAME   name in stats and under /sys/fs/bpf/rvf/ (default \"default\")\n"
	"  --max-wait-ms MS  answer OVERLOADED, without searching, to a query that waited\n"
	"                    longer than MS in the socket queue (default 1000; 0 = never)\n"
	"  --poll-ms MS      how often to look for commits to the stores (default 25)\n"
	"\n"
	"Kernel filter (a ladder, the level reached is printed and in `rvf stats`):\n"
	"eBPF prefilter on every worker socket (from the store's EBPF segment, else the\n"
	"built-in one; needs CAP_BPF + CAP_NET_ADMIN) -> classic BPF socket filter (no\n"
	"privilege needed) -> userspace validation only. Userspace always re-checks.\n"
	"  --iface IF        also attach the XDP prefilter to interface IF\n"
	"  --xdp MODE        native (default with --iface), generic, or off\n"
	"  --pin-dir DIR     pin maps and programs here (default /sys/fs/bpf/rvf/INSTANCE);\n"
	"                    removed on exit. bpftool map dump pinned DIR/rvf_counters\n"
	"  --trust-ebpf      load a store's EBPF segment even if it is not the prefilter\n"
	"                    this rvfd was built with (its hash is still checked)\n"
	"  --no-bpf          no kernel filter: validate in userspace only\n"
	"\n"
	"Kernel-bypass receive (needs --iface, the eBPF level, CAP_NET_RAW and memlock for\n"
	"the UMEM): the XDP prefilter redirects valid queries that arrive whole in one\n"
	"Ethernet frame (at jumbo MTUs as several descriptors, XDP_USE_SG) into one AF_XDP\n"
	"socket per RX queue; everything else (ARP, ICMP, other ports, IP fragments of\n"
	"queries above the MTU, stats requests) takes the kernel stack and the UDP\n"
	"workers. Replies always leave through the UDP socket. Zero-copy is tried\n"
	"first, then copy mode, then the UDP path alone (printed and in `rvf stats`).\n"
	"  --xdp-mode MODE   filter (default: XDP only drops bad queries) or afxdp\n"
	"  --queues Q        RX queues to serve: N (queues 0..N-1), or a list 0,2,4 / 2-3\n"
	"                    (default: every RX queue the driver reports)\n"
	"  --xsk-frame-size B  UMEM frame size, 2048 or 4096 (default 4096)\n"
	"  --xsk-rx-ring N   RX ring entries, a power of two 64..16384 (default 1024)\n"
	"  --xsk-fill-ring N fill ring entries, as above (default 1024)\n"
	"  --xsk-frames N    UMEM frames per socket (default RX + fill ring)\n"
	"  -h, --help        this text\n"
	"\n"
	"environment: RVF_IO=syscall forces recvmmsg/sendmmsg instead of io_uring;\n"
	"RVF_IO=uring requires io_uring. RVF_VERBOSE=1 logs every library message.\n"
	"Signals: SIGTERM or SIGINT finish in-flight queries and exit 0.\n"
	"Exit status: 0 after a signal, 1 bad configuration or failure, 2 usage error.\n";

static bool verbose;
bool rvfd_log_muted;

static void log_sink(void *ctx, enum rvf_log_level level, const char *msg)
{
	static const char *names[] = { "error", "warning", "info", "debug" };

	(void)ctx;
	if ((level <= RVF_LOG_WARN && !rvfd_log_muted) || verbose)
		fprintf(stderr, "rvfd: %s: %s\n", names[level <= RVF_LOG_DEBUG ? level : RVF_LOG_DEBUG], msg);
}

__attribute__((format(printf, 1, 2)))
static void die_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("rvfd: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	die_msg("%s: '%s' is not a number %u..%u", opt, s ? s : "", min, max);
	return -EINVAL;
}

/* "NS=REST": the id and a view of REST. */
static int parse_id_eq(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *id,
		       const char **rest)
{
	const char *eq = strchr(s, '=');
	char num[16];

	if (!eq || eq == s || (size_t)(eq - s) >= sizeof(num) || !eq[1]) {
		die_msg("%s '%s': expected %s", opt, s, !strcmp(opt, "--store") ? "NS=FILE (e.g. 1=my.rvf)"
			: "ID=JSON (e.g. 1={\"eq\":{\"field\":0,\"value\":7}})");
		return -EINVAL;
	}
	memcpy(num, s, (size_t)(eq - s));
	num[eq - s] = '\0';
	if (parse_u32(opt, num, min, max, id))
		return -EINVAL;
	*rest = eq + 1;
	return 0;
}

static int cmp_ns(const void *a, const void *b)
{
	const struct rvfd_ns *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int read_text(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f) {
		die_msg("%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		die_msg("%s: cannot read (or larger than 1 MiB)", path);
		return -EINVAL;
	}
	b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		fclose(f);
		die_msg("%s: read error", path);
		return -EIO;
	}
	b[n] = '\0';
	fclose(f);
	*out = b;
	return 0;
}

static int add_filter(struct rvfd *d, const char *arg)
{
	const char *json;
	char *text = NULL;
	uint32_t id;
	struct rvfd_filter *nf;
	int rc;

	if (parse_id_eq("--filter", arg, 1, UINT32_MAX, &id, &json))
		return -EINVAL;
	for (size_t i = 0; i < d->n_filters; i++)
		if (d->filters[i].id == id) {
			die_msg("--filter: id %u given twice", id);
			return -EINVAL;
		}
	if (json[0] == '@') {
		if (read_text(json + 1, &text))
			return -EINVAL;
		json = text;
	}
	nf = realloc(d->filters, (d->n_filters + 1) * sizeof(*nf));
	if (!nf) {
		free(text);
		return -ENOMEM;
	}
	d->filters = nf;
	rc = rvf_filter_parse_json(json, &nf[d->n_filters].f);
	free(text);
	if (rc) {
		die_msg("--filter %u: %s", id, rvf_last_error()[0] ? rvf_last_error() : rvf_strerror(rc));
		return rc;
	}
	nf[d->n_filters++].id = id;
	return 0;
}

static int add_store(struct rvfd *d, const char *arg)
{
	const char *path;
	uint32_t id;
	struct rvfd_ns *nn;

	if (parse_id_eq("--store", arg, 0, RVF_WIRE_MAX_NS - 1, &id, &path))
		return -EINVAL;
	for (size_t i = 0; i < d->n_ns; i++)
		if (d->ns[i].id == id) {
			die_msg("--store: namespace %u given twice", id);
			return -EINVAL;
		}
	nn = realloc(d->ns, (d->n_ns + 1) * sizeof(*nn));
	if (!nn)
		return -ENOMEM;
	d->ns = nn;
	memset(&nn[d->n_ns], 0, sizeof(nn[0]));
	nn[d->n_ns].id = id;
	nn[d->n_ns].path = strdup(path);
	if (!nn[d->n_ns].path)
		return -ENOMEM;
	d->n_ns++;
	return 0;
}

/* --queues: "N" = queues 0..N-1; "A,B,..." and ranges "A-B" = those. */
static int parse_queues(struct rvfd *d, const char *s)
{
	char buf[256], *tok, *save = NULL;
	bool seen[RVF_WIRE_XSK_QUEUES] = { false };
	uint32_t a, b;

	d->n_queues = 0;
	if (!strchr(s, ',') && !strchr(s, '-')) {
		if (parse_u32("--queues", s, 1, RVF_WIRE_XSK_QUEUES, &a))
			return -EINVAL;
		for (uint32_t q = 0; q < a; q++)
			d->xsk_queues[d->n_queues++] = q;
		return 0;
	}
	if (strlen(s) >= sizeof(buf)) {
		die_msg("--queues: list too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');

		if (dash)
			*dash = '\0';
		if (parse_u32("--queues", tok, 0, RVF_WIRE_XSK_QUEUES - 1, &a) ||
		    parse_u32("--queues", dash ? dash + 1 : tok, a, RVF_WIRE_XSK_QUEUES - 1, &b))
			return -EINVAL;
		for (uint32_t q = a; q <= b; q++) {
			if (seen[q]) {
				die_msg("--queues: queue %u given twice", q);
				return -EINVAL;
			}
			seen[q] = true;
			d->xsk_queues[d->n_queues++] = q;
		}
	}
	if (!d->n_queues) {
		die_msg("--queues '%s': no queue", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(struct rvfd *d, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, 0, 's' }, { "listen", required_argument, 0, 'l' },
		{ "threads", required_argument, 0, 't' }, { "ef", required_argument, 0, 'e' },
		{ "filter", required_argument, 0, 'f' }, { "instance", required_argument, 0, 'i' },
		{ "max-wait-ms", required_argument, 0, 'w' }, { "poll-ms", required_argument, 0, 'p' },
		{ "iface", required_argument, 0, 'I' }, { "xdp", required_argument, 0, 'X' },
		{ "pin-dir", required_argument, 0, 'P' }, { "trust-ebpf", no_argument, 0, 'T' },
		{ "no-bpf", no_argument, 0, 'N' },
		{ "xdp-mode", required_argument, 0, 'M' }, { "queues", required_argument, 0, 'Q' },
		{ "xsk-frame-size", required_argument, 0, 'F' }, { "xsk-rx-ring", required_argument, 0, 'R' },
		{ "xsk-fill-ring", required_argument, 0, 'L' }, { "xsk-frames", required_argument, 0, 'U' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *listen = NULL, *pin_dir = NULL, *xdp = NULL, *xdp_mode = NULL;
	bool xsk_opt = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return 1;
		case 's':
			if (add_store(d, optarg))
				return -EINVAL;
			break;
		case 'l': listen = optarg; break;
		case 't':
			if (parse_u32("--threads", optarg, 1, 64, &d->threads))
				return -EINVAL;
			break;
		case 'e':
			if (parse_u32("--ef", optarg, 1, 100000, &d->ef_default))
				return -EINVAL;
			break;
		case 'f':
			if (add_filter(d, optarg))
				return -EINVAL;
			break;
		case 'i':
			if (!*optarg || strlen(optarg) > 64 || strchr(optarg, '/') || optarg[0] == '.') {
				die_msg("--instance '%s': 1..64 characters, no '/', not starting with '.'", optarg);
				return -EINVAL;
			}
			d->instance = optarg;
			break;
		case 'w':
			if (parse_u32("--max-wait-ms", optarg, 0, 3600000, &d->max_wait_ms))
				return -EINVAL;
			break;
		case 'p':
			if (parse_u32("--poll-ms", optarg, 1, 10000, &d->poll_ms))
				return -EINVAL;
			break;
		case 'I':
			if (!*optarg || strlen(optarg) >= IF_NAMESIZE) {
				die_msg("--iface '%s': not an interface name", optarg);
				return -EINVAL;
			}
			d->iface = optarg;
			break;
		case 'X': xdp = optarg; break;
		case 'P':
			if (optarg[0] != '/' || strlen(optarg) >= sizeof(d->pin_dir)) {
				die_msg("--pin-dir '%s': an absolute path on a bpf filesystem", optarg);
				return -EINVAL;
			}
			pin_dir = optarg;
			break;
		case 'T': d->trust_ebpf = true; break;
		case 'N': d->no_bpf = true; break;
		case 'M': xdp_mode = optarg; break;
		case 'Q':
			if (parse_queues(d, optarg))
				return -EINVAL;
			xsk_opt = true;
			break;
		case 'F':
			if (parse_u32("--xsk-frame-size", optarg, 2048, 4096, &d->xsk_opts.frame_size))
				return -EINVAL;
			xsk_opt = true;
			break;
		case 'R':
			if (parse_u32("--xsk-rx-ring", optarg, NET_XSK_RING_MIN, NET_XSK_RING_MAX,
				      &d->xsk_opts.rx_size))
				return -EINVAL;
			xsk_opt = true;
			break;
		case 'L':
			if (parse_u32("--xsk-fill-ring", optarg, NET_XSK_RING_MIN, NET_XSK_RING_MAX,
				      &d->xsk_opts.fill_size))
				return -EINVAL;
			xsk_opt = true;
			break;
		case 'U':
			if (parse_u32("--xsk-frames", optarg, NET_XSK_RING_MIN, 262144, &d->xsk_opts.nframes))
				return -EINVAL;
			xsk_opt = true;
			break;
		case ':':
			die_msg("option '%s' needs a value (see rvfd --help)", argv[optind - 1]);
			return -EINVAL;
		default:
			die_msg("unknown option '%s' (see rvfd --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		die_msg("unexpected argument '%s' (see rvfd --help)", argv[optind]);
		return -EINVAL;
	}
	if (!d->n_ns) {
		die_msg("no --store NS=FILE given (see rvfd --help)");
		return -EINVAL;
	}
	if (!listen) {
		die_msg("no --listen ADDR:PORT given (see rvfd --help)");
		return -EINVAL;
	}
	if (net_addr_parse(listen, &d->listen)) {
		die_msg("--listen: %s", rvf_last_error());
		return -EINVAL;
	}
	d->xdp_mode = RVF_XDP_NATIVE;
	if (xdp) {
		if (!strcmp(xdp, "native"))
			d->xdp_mode = RVF_XDP_NATIVE;
		else if (!strcmp(xdp, "generic"))
			d->xdp_mode = RVF_XDP_GENERIC;
		else if (!strcmp(xdp, "off"))
			d->xdp_mode = -1;
		else {
			die_msg("--xdp '%s': native, generic or off", xdp);
			return -EINVAL;
		}
		if (!d->iface) {
			die_msg("--xdp needs --iface IF");
			return -EINVAL;
		}
	}
	if (xdp_mode) {
		if (!strcmp(xdp_mode, "afxdp"))
			d->afxdp_wanted = true;
		else if (strcmp(xdp_mode, "filter")) {
			die_msg("--xdp-mode '%s': filter or afxdp", xdp_mode);
			return -EINVAL;
		}
	}
	if (d->afxdp_wanted) {
		char why[128];

		if (!d->iface || d->xdp_mode < 0 || d->no_bpf) {
			die_msg("--xdp-mode afxdp needs --iface IF and the XDP prefilter (not --xdp off or "
				"--no-bpf)");
			return -EINVAL;
		}
		if (net_xsk_check_opts(&d->xsk_opts, why, sizeof(why))) {
			die_msg("AF_XDP options: %s", why);
			return -EINVAL;
		}
	} else if (xsk_opt) {
		die_msg("--queues and --xsk-* need --xdp-mode afxdp");
		return -EINVAL;
	}
	if (d->no_bpf && (d->iface || d->trust_ebpf || pin_dir)) {
		die_msg("--no-bpf cannot be combined with --iface, --trust-ebpf or --pin-dir");
		return -EINVAL;
	}
	if (pin_dir)
		snprintf(d->pin_dir, sizeof(d->pin_dir), "%s", pin_dir);
	else
		snprintf(d->pin_dir, sizeof(d->pin_dir), "/sys/fs/bpf/rvf/%s", d->instance);
	qsort(d->ns, d->n_ns, sizeof(d->ns[0]), cmp_ns);
	return 0;
}

static int choose_io(struct rvfd *d)
{
	const char *env = getenv("RVF_IO");
	int rc;

	if (env && !strcmp(env, "syscall")) {
		d->io = NET_IO_SYSCALL;
		snprintf(d->io_why, sizeof(d->io_why), "RVF_IO=syscall");
		return 0;
	}
	if (env && *env && strcmp(env, "uring") && strcmp(env, "auto")) {
		die_msg("RVF_IO='%s': expected uring, syscall or auto", env);
		return -EINVAL;
	}
	rc = net_uring_probe(d->io_why, sizeof(d->io_why));
	if (!rc) {
		d->io = NET_IO_URING;
		d->io_why[0] = '\0';
		return 0;
	}
	if (env && !strcmp(env, "uring")) {
		die_msg("RVF_IO=uring but io_uring is not usable: %s", d->io_why);
		return rc;
	}
	d->io = NET_IO_SYSCALL;
	return 0;
}

static void *worker_main(void *arg)
{
	struct rvfd_worker *w = arg;
	struct net_loop_opts o = {
		.fd = w->fd,
		.stop_fd = w->d->stop_fd,
		.io = w->d->io,
		.fn = handle_datagram,
		.ctx = w,
		.max_dgram = w->d->max_dgram,
		.reply_cap = RVFD_REPLY_CAP,
	};

	w->rc = net_loop_run(&o, &w->io);
	return NULL;
}

static int bind_sockets(struct rvfd *d)
{
	int probe;

	/* Without SO_REUSEPORT first: fails if anyone holds the port. */
	if (net_udp_bind(&d->listen, false, &probe)) {
		die_msg("--listen: %s", rvf_last_error());
		return -EADDRINUSE;
	}
	close(probe);
	for (unsigned t = 0; t < d->threads; t++) {
		if (net_udp_bind(&d->listen, true, &d->workers[t].fd)) {
			die_msg("--listen: %s", rvf_last_error());
			return -EADDRINUSE;
		}
		net_udp_buffers(d->workers[t].fd, 8 << 20);
	}
	return 0;
}

static void signal_stop(struct rvfd *d)
{
	uint64_t one = 1;

	atomic_store(&d->stopping, true);
	if (write(d->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("stop: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct rvfd d;
	sigset_t sigs;
	char name[80];
	uint32_t max_dim = 0;
	int rc, sig, ret = 1;
	const char *env = getenv("RVF_VERBOSE");

	verbose = env && *env && strcmp(env, "0");
	setvbuf(stdout, NULL, _IOLBF, 0);
	rvf_set_log(log_sink, NULL, RVF_LOG_DEBUG);
	memset(&d, 0, sizeof(d));
	d.instance = "default";
	d.ef_default = 64;
	d.max_wait_ms = 1000;
	d.poll_ms = 25;
	d.stop_fd = -1;
	d.watch_stop_fd = -1;
	d.start_ns = now_mono_ns();

	rc = parse_args(&d, argc, argv);
	if (rc) {
		ret = rc > 0 ? 0 : EXIT_USAGE;
		goto out_args;
	}
	if (!d.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		d.threads = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
	}
	if (choose_io(&d))
		goto out_args;

	/* Block the stop signals before any thread exists: only sigwait sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ns_open_all(&d)) {
		die_msg("%s", rvf_last_error());
		goto out_args;
	}
	for (size_t i = 0; i < d.n_ns; i++)
		if (d.ns[i].shape.dim > max_dim)
			max_dim = d.ns[i].shape.dim;
	/* room for the largest query plus a little, so a slightly long one is
	 * seen whole (and counted as a length error) */
	d.max_dgram = RVF_WIRE_QUERY_HDR_LEN + (size_t)max_dim * 4 + 64;

	{
		pthread_rwlockattr_t a;

		pthread_rwlockattr_init(&a);
		/* the watcher's swap must not starve behind a stream of readers */
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&d.lock, &a);
		pthread_rwlockattr_destroy(&a);
	}
	d.workers = calloc(d.threads, sizeof(*d.workers));
	if (!d.workers) {
		die_msg("out of memory");
		goto out_stores;
	}
	for (unsigned t = 0; t < d.threads; t++) {
		d.workers[t].d = &d;
		d.workers[t].index = t;
		d.workers[t].fd = -1;
		/* one context serves every namespace (it regrows as needed) */
		if ((rc = rvf_query_ctx_new(d.ns[0].store, &d.workers[t].qctx))) {
			die_msg("query context: %s", rvf_strerror(rc));
			goto out_sockets;
		}
	}
	if (bind_sockets(&d))
		goto out_sockets;
	rvfd_log_muted = true;
	rc = filter_setup(&d);
	rc = rc ? rc : afxdp_setup(&d);
	rvfd_log_muted = false;
	if (rc) {
		die_msg("%s", rvf_last_error());
		goto out_filter;
	}
	d.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (d.stop_fd < 0) {
		die_msg("eventfd: %s", strerror(errno));
		goto out_filter;
	}

	net_addr_str((const struct sockaddr *)&d.listen.ss, name, sizeof(name));
	printf("rvfd: instance %s listening on %s, %u worker%s\n", d.instance, name, d.threads,
	       d.threads == 1 ? "" : "s");
	for (size_t i = 0; i < d.n_ns; i++) {
		struct rvf_store_status st;

		rvf_store_status(d.ns[i].store, &st);
		printf("rvfd: namespace %u: %s (%llu vectors, dim %u, %s, epoch %llu)\n", d.ns[i].id,
		       d.ns[i].path, (unsigned long long)st.live_vectors, st.dimension,
		       rvf_metric_name(st.metric), (unsigned long long)st.epoch);
	}
	if (d.io == NET_IO_URING)
		printf("rvfd: io: io_uring (multishot recvmsg, provided buffer ring, batched sendmsg)\n");
	else
		printf("rvfd: io: syscall (recvmmsg/sendmmsg): %s\n", d.io_why);
	printf("rvfd: filter: %s%s%s\n", filter_level_name(d.filter_level), d.filter_why[0] ? ": " : "",
	       d.filter_why);
	if (d.afxdp_wanted)
		printf("rvfd: afxdp: %s: %s\n", d.xsk_mode ? net_xsk_mode_name(d.xsk_mode) : "udp",
		       d.xsk_why);

	for (unsigned t = 0; t < d.threads; t++) {
		rc = pthread_create(&d.workers[t].thread, NULL, worker_main, &d.workers[t]);
		if (rc) {
			die_msg("cannot start worker %u: %s", t, strerror(rc));
			goto out_workers;
		}
		d.workers[t].started = true;
	}
	if (afxdp_start(&d)) {
		die_msg("%s", rvf_last_error());
		goto out_workers;
	}
	if (ns_watcher_start(&d)) {
		die_msg("%s", rvf_last_error());
		goto out_workers;
	}
	printf("rvfd: ready\n");

	for (;;) {
		if (sigwait(&sigs, &sig))
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	printf("rvfd: %s: finishing in-flight queries\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	ret = 0;

out_workers:
	afxdp_unmap(&d);
	if (d.stop_fd >= 0)
		signal_stop(&d);
	for (unsigned t = 0; t < d.threads; t++)
		if (d.workers[t].started) {
			pthread_join(d.workers[t].thread, NULL);
			if (d.workers[t].rc) {
				log_error("worker %u stopped with %s", t, strerror(-d.workers[t].rc));
				ret = 1;
			}
		}
	afxdp_join(&d);
	ns_watcher_stop(&d);
	if (ret == 0) {
		uint64_t q = 0;

		for (unsigned t = 0; t < rvfd_nworkers(&d); t++)
			q += rvfd_worker_at(&d, t)->c.queries;
		printf("rvfd: stopped after %llu queries\n", (unsigned long long)q);
	}
out_filter:
	afxdp_teardown(&d);
	filter_teardown(&d);
out_sockets:
	if (d.stop_fd >= 0)
		close(d.stop_fd);
	for (unsigned t = 0; d.workers && t < d.threads; t++) {
		if (d.workers[t].fd >= 0)
			close(d.workers[t].fd);
		rvf_query_ctx_free(d.workers[t].qctx);
	}
	free(d.workers);
	pthread_rwlock_destroy(&d.lock);
out_stores:
	ns_close_all(&d);
out_args:
	for (size_t i = 0; i < d.n_ns; i++)
		free(d.ns[i].path);
	free(d.ns);
	for (size_t i = 0; i < d.n_filters; i++)
		rvf_filter_free(d.filters[i].f);
	free(d.filters);
	return ret;
}
