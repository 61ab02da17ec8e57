/*
 * tools/rvf/main.c - `rvf`, the command-line front end of librvf: command
 * dispatch, the library log sink, and helpers shared by the commands
 * (option parsing, error messages, store opening, small file I/O).
 *
 * The library never prints; this tool installs a sink that keeps the last
 * ERROR message (to append to our own one-line error) and prints warnings.
 * RVF_VERBOSE=1 (or -v before the command) prints every library message.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *cli_cmd = "";
uint32_t cli_lock_timeout_ms;

/* Per thread: `rvf query --threads` workers log failed queries at once, and
 * one shared buffer was a data race (found by make tsan). */
static __thread char lib_err[1024];
static bool verbose;

static void log_sink(void *ctx, enum rvf_log_level level, const char *msg)
{
	(void)ctx;
	if (level == RVF_LOG_ERROR) {
		snprintf(lib_err, sizeof(lib_err), "%s", msg);
		if (!verbose)
			return;
	}
	if (level <= RVF_LOG_WARN || verbose)
		fprintf(stderr, "rvf: %s: %s\n",
			level == RVF_LOG_ERROR ? "error" : level == RVF_LOG_WARN ? "warning"
			: level == RVF_LOG_INFO ? "info" : "debug", msg);
}

void cli_clear_lib_err(void)
{
	lib_err[0] = '\0';
}

const char *cli_lib_detail(void)
{
	return lib_err;
}

void cli_set_lib_detail(const char *detail)
{
	snprintf(lib_err, sizeof(lib_err), "%s", detail);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rvf %s: ", cli_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_lib_err(const char *path, const char *what, int rc)
{
	if (lib_err[0])
		cli_err("%s: %s: %s (%s)", path, what, rvf_strerror(rc), lib_err);
	else
		cli_err("%s: %s: %s", path, what, rvf_strerror(rc));
}

/* ---- options -------------------------------------------------------------- */

void cli_usage(FILE *f, const char *usage)
{
	fputs(usage, f);
}

int cli_getopt(int argc, char **argv, const char *optstring, const struct option *longopts,
	       const char *usage)
{
	int c = getopt_long(argc, argv, optstring, longopts, NULL);

	switch (c) {
	case 'h':
		cli_usage(stdout, usage);
		return 'h';
	case '?':
		if (optopt && optopt != '?')
			cli_err("unknown option '-%c' (see rvf %s --help)", optopt, cli_cmd);
		else
			cli_err("unknown option '%s' (see rvf %s --help)", argv[optind - 1], cli_cmd);
		return '?';
	case ':':
		cli_err("option '%s' needs a value (see rvf %s --help)", argv[optind - 1], cli_cmd);
		return '?';
	default:
		return c;
	}
}

int cli_u64(const char *opt, const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		goto bad;
	/* decimal, or hex with 0x (never octal: "010" is ten) */
	v = strtoull(s, &end, (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10);
	if (errno || *end)
		goto bad;
	*out = v;
	return 0;
bad:
	cli_err("%s: '%s' is not a non-negative integer", opt, s ? s : "");
	return -EINVAL;
}

int cli_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (cli_u64(opt, s, &v))
		return -EINVAL;
	if (v < min || v > max) {
		cli_err("%s: %s is out of range %u..%u", opt, s, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int cli_float_list(const char *opt, const char *s, float **out, uint32_t *n)
{
	size_t cap = 16, cnt = 0;
	float *v = malloc(cap * sizeof(*v));
	const char *p = s;

	if (!v)
		return -ENOMEM;
	while (*p) {
		char *end;
		float x;

		errno = 0;
		x = strtof(p, &end);
		if (end == p || (errno && errno != ERANGE) || (*end && *end != ',')) {
			cli_err("%s: bad number at position %zu ('%.20s')", opt, cnt + 1, p);
			free(v);
			return -EINVAL;
		}
		if (cnt == cap) {
			float *nv = realloc(v, 2 * cap * sizeof(*v));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap *= 2;
		}
		v[cnt++] = x;
		p = *end ? end + 1 : end;
		if (*end == ',' && !*p) {
			cli_err("%s: trailing comma", opt);
			free(v);
			return -EINVAL;
		}
	}
	if (!cnt) {
		cli_err("%s: no values", opt);
		free(v);
		return -EINVAL;
	}
	*out = v;
	*n = (uint32_t)cnt;
	return 0;
}

int cli_u64_list(const char *opt, const char *s, uint64_t **out, size_t *n)
{
	size_t cap = 16, cnt = 0;
	uint64_t *v = malloc(cap * sizeof(*v));
	char *copy = strdup(s), *save = NULL, *tok;
	int rc = 0;

	if (!v || !copy) {
		rc = -ENOMEM;
		goto out;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cnt == cap) {
			uint64_t *nv = realloc(v, 2 * cap * sizeof(*v));

			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
			cap *= 2;
		}
		if (cli_u64(opt, tok, &v[cnt])) {
			rc = -EINVAL;
			goto out;
		}
		cnt++;
	}
	if (!cnt) {
		cli_err("%s: no ids", opt);
		rc = -EINVAL;
	}
out:
	free(copy);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cli_filter(const char *arg, struct rvf_filter **out)
{
	void *buf = NULL;
	size_t len;
	const char *json = arg;
	int rc;

	if (arg[0] == '@') {
		if (cli_read_file(arg + 1, &buf, &len))
			return -EINVAL;
		json = buf;
	}
	cli_clear_lib_err();
	rc = rvf_filter_parse_json(json, out);
	if (rc)
		cli_err("--filter: %s", lib_err[0] ? lib_err : rvf_strerror(rc));
	free(buf);
	return rc;
}

/* ---- stores --------------------------------------------------------------- */

/* A file the Rust runtime wrote starts with a segment header. */
static bool is_rust_file(const char *path)
{
	uint32_t magic = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool r;

	if (fd < 0)
		return false;
	r = pread(fd, &magic, 4, 0) == 4 && magic == RVF_SEG_MAGIC;
	close(fd);
	return r;
}

int cli_open_rw(const char *path, struct rvf_store **out)
{
	struct rvf_store_opts o = { .write_timeout_ms = cli_lock_timeout_ms };
	int rc;

	cli_clear_lib_err();
	rc = rvf_store_open(path, &o, out);
	if (rc == -ENOTSUP && is_rust_file(path))
		cli_err("%s: written by the Rust RVF runtime: it can be read (query, dump, status, "
			"segments) but not written; run 'rvf import %s NEW.rvf' and write to NEW.rvf",
			path, path);
	else if (rc)
		cli_lib_err(path, "cannot open for writing", rc);
	return rc;
}

int cli_open_ro(const char *path, struct rvf_store **out)
{
	int rc;

	cli_clear_lib_err();
	rc = rvf_store_open_readonly(path, NULL, out);
	if (rc)
		cli_lib_err(path, "cannot open", rc);
	return rc;
}

int cli_close(struct rvf_store *s, const char *path)
{
	int rc;

	cli_clear_lib_err();
	rc = rvf_store_close(s);
	if (rc) {
		cli_lib_err(path, "close (final write)", rc);
		return 1;
	}
	return 0;
}

/* ---- files ---------------------------------------------------------------- */

int cli_read_file(const char *path, void **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		cli_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		size_t r;

		if (cap - n < 65536) {
			char *nb = realloc(b, cap ? cap * 2 : 65536 + 1);

			if (!nb) {
				free(b);
				fclose(f);
				cli_err("%s: out of memory", path);
				return -ENOMEM;
			}
			b = nb;
			cap = cap ? cap * 2 : 65536 + 1;
		}
		r = fread(b + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;

		cli_err("%s: read error: %s", path, strerror(e));
		free(b);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	b[n] = '\0';   /* text users get a terminated string */
	*buf = b;
	*len = n;
	return 0;
}

int cli_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	const char *p = buf;

	if (fd < 0) {
		cli_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			cli_err("%s: write: %s", path, strerror(errno));
			close(fd);
			return -EIO;
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd)) {
		cli_err("%s: close: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* ---- small formatting ----------------------------------------------------- */

void cli_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cli_parse_hex(const char *opt, const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		int a = hexval(s[2 * i]), b = hexval(s[2 * i + 1]);

		if (a < 0 || b < 0)
			goto bad;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
bad:
	cli_err("%s: expected %zu hex digits", opt, 2 * n);
	return -EINVAL;
}

bool cli_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_json_str(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

const char *cli_seg_type_name(uint8_t type)
{
	switch (type) {
	case RVF_SEG_VEC: return "VEC";
	case RVF_SEG_INDEX: return "INDEX";
	case RVF_SEG_OVERLAY: return "OVERLAY";
	case RVF_SEG_JOURNAL: return "JOURNAL";
	case RVF_SEG_MANIFEST: return "MANIFEST";
	case RVF_SEG_QUANT: return "QUANT";
	case RVF_SEG_META: return "META";
	case RVF_SEG_HOT: return "HOT";
	case RVF_SEG_SKETCH: return "SKETCH";
	case RVF_SEG_WITNESS: return "WITNESS";
	case RVF_SEG_PROFILE: return "PROFILE";
	case RVF_SEG_CRYPTO: return "CRYPTO";
	case RVF_SEG_META_IDX: return "META_IDX";
	case RVF_SEG_KERNEL: return "KERNEL";
	case RVF_SEG_EBPF: return "EBPF";
	case RVF_SEG_WASM: return "WASM";
	case RVF_SEG_DASHBOARD: return "DASHBOARD";
	case RVF_SEG_COW_MAP: return "COW_MAP";
	case RVF_SEG_REFCOUNT: return "REFCOUNT";
	case RVF_SEG_MEMBERSHIP: return "MEMBERSHIP";
	case RVF_SEG_DELTA: return "DELTA";
	default: return NULL;
	}
}

const char *cli_profile_name(int profile)
{
	static const char *names[] = { "generic", "rvdna", "rvtext", "rvgraph", "rvvision" };

	return profile >= 0 && profile < RVF_PROFILE_COUNT ? names[profile] : "unknown";
}

static const struct { const char *name; enum rvf_derivation_type t; } derivations[] = {
	{ "clone", RVF_DERIVE_CLONE }, { "filter", RVF_DERIVE_FILTER },
	{ "merge", RVF_DERIVE_MERGE }, { "quantize", RVF_DERIVE_QUANTIZE },
	{ "reindex", RVF_DERIVE_REINDEX }, { "transform", RVF_DERIVE_TRANSFORM },
	{ "snapshot", RVF_DERIVE_SNAPSHOT }, { "user-defined", RVF_DERIVE_USER_DEFINED },
};

const char *cli_derivation_name(int type)
{
	for (size_t i = 0; i < sizeof(derivations) / sizeof(derivations[0]); i++)
		if ((int)derivations[i].t == type)
			return derivations[i].name;
	return "unknown";
}

int cli_derivation_parse(const char *s, enum rvf_derivation_type *out)
{
	for (size_t i = 0; i < sizeof(derivations) / sizeof(derivations[0]); i++)
		if (!strcmp(derivations[i].name, s)) {
			*out = derivations[i].t;
			return 0;
		}
	cli_err("--type: unknown derivation type '%s' (clone, filter, merge, quantize, "
		"reindex, transform, snapshot, user-defined)", s);
	return -EINVAL;
}

/* ---- dispatch ------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{ "create", cmd_create, "create an empty store" },
	{ "ingest", cmd_ingest, "add vectors from fvecs, bvecs, npy, idx, csv or jsonl" },
	{ "query", cmd_query, "k nearest neighbours of one vector or a file of queries" },
	{ "delete", cmd_delete, "delete vectors by id or by metadata filter" },
	{ "status", cmd_status, "counts, sizes, epoch, identity" },
	{ "segments", cmd_segments, "list the committed segments" },
	{ "compact", cmd_compact, "reclaim deleted and superseded space" },
	{ "derive", cmd_derive, "create a child store that records its parent" },
	{ "freeze", cmd_freeze, "make the store immutable (on disk)" },
	{ "branch", cmd_branch, "create a copy-on-write branch of a store" },
	{ "membership", cmd_membership, "set, change, clear or show the membership filter" },
	{ "embed-kernel", cmd_embed_kernel, "store a kernel image in a KERNEL segment" },
	{ "extract-kernel", cmd_extract_kernel, "write the stored kernel image to a file" },
	{ "embed-ebpf", cmd_embed_ebpf, "store an eBPF object in an EBPF segment" },
	{ "extract-ebpf", cmd_extract_ebpf, "write the stored eBPF object to a file" },
	{ "verify", cmd_verify, "full consistency check (exit 1 on any problem)" },
	{ "dump", cmd_dump, "every live vector as JSON lines, sorted by id" },
	{ "import", cmd_import, "convert a file written by the Rust RVF runtime" },
	{ "remote-query", cmd_remote_query, "k nearest neighbours from an rvfd over UDP" },
	{ "stats", cmd_stats, "an rvfd's counters (filter level, drops, latency)" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: rvf [-v] COMMAND [ARGS]   (rvf COMMAND --help for details)\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nenvironment:\n"
		"  RVF_LOCK_TIMEOUT_MS  how long writers wait for another writer (default 5000)\n"
		"  RVF_IO               I/O backend: uring or syscall (default: uring if usable)\n"
		"  RVF_VERBOSE=1        print every library log message (same as -v)\n"
		"\nexit status: 0 success, 1 failure, 2 usage error\n");
}

int main(int argc, char **argv)
{
	const char *env;
	int i = 1;

	env = getenv("RVF_VERBOSE");
	verbose = env && *env && strcmp(env, "0");
	if (i < argc && !strcmp(argv[i], "-v")) {
		verbose = true;
		i++;
	}
	rvf_set_log(log_sink, NULL, RVF_LOG_DEBUG);
	env = getenv("RVF_LOCK_TIMEOUT_MS");
	if (env && *env) {
		uint64_t v;

		cli_cmd = "(environment)";
		if (cli_u64("RVF_LOCK_TIMEOUT_MS", env, &v) || v == 0 || v > UINT32_MAX)
			return EXIT_USAGE;
		cli_lock_timeout_ms = (uint32_t)v;
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t c = 0; c < N_COMMANDS; c++) {
		if (strcmp(argv[i], commands[c].name))
			continue;
		cli_cmd = commands[c].name;
		opterr = 0;
		optind = 0;   /* GNU: full reinitialisation */
		return commands[c].fn(argc - i, argv + i);
	}
	fprintf(stderr, "rvf: unknown command '%s' (see rvf --help)\n", argv[i]);
	return EXIT_USAGE;
}
