/*
 * bpfload/bpfload.c - the prefilter loader (bpfload.h): ABI check, load,
 * the mmap'd namespace maps, pinning, socket and XDP attachment. The AF_XDP
 * socket maps and the counters are in maps.c, the built-in object, EBPF
 * segment checks and the classic-BPF fallback in segment.c.
 *
 * Sequence of rvf_bpf_open:
 *   copy the ELF -> open_mem -> abi_check (names, types, sizes, .rodata ABI;
 *   set rvf_port) -> load (verifier log tail captured from libbpf's print
 *   hook on failure) -> mmap rvf_ns and rvf_members -> pin (lock the pin
 *   dir, replace stale pins, pin maps and programs)
 * rvf_bpf_close undoes it in reverse: XDP links, socket filters, pins, maps'
 * mmaps, object.
 *
 * Invariants: the namespace maps are only written through the mmaps with
 * atomic stores (one u64 per namespace shape, or/and on membership words);
 * a handle that pinned holds an flock on its pin directory until close, which
 * is how a second instance on the same directory is told apart from the
 * leftovers of a dead one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <byteswap.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpfload/bpfload.h"
#include "bpfload/bpfload_priv.h"
#include "common/log.h"
#include "codec/ebpf.h"
#include "codec/hash.h"

#define OBJ_NAME "rvf"          /* libbpf prefixes internal maps: rvf.rodata */

static const struct prog_abi {
	const char *name;
	enum bpf_prog_type type;
	const char *sec;                /* "xdp.frags" is what makes libbpf load it with
					 * BPF_F_XDP_HAS_FRAGS */
} want_progs[RVF_BPF_NPROGS] = {
	[RVF_BPF_PROG_SOCK]   = { "sock_prefilter", BPF_PROG_TYPE_SOCKET_FILTER, "socket" },
	[RVF_BPF_PROG_XDP]    = { "xdp_prefilter", BPF_PROG_TYPE_XDP, "xdp" },
	[RVF_BPF_PROG_XDP_MB] = { "xdp_prefilter_mb", BPF_PROG_TYPE_XDP, "xdp.frags" },
};

const struct map_abi want_maps[NMAPS] = {
	[MAP_NS] = { "rvf_ns", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rvf_wire_ns),
		     RVF_WIRE_MAX_NS, BPF_F_MMAPABLE },
	[MAP_MEMBERS] = { "rvf_members", BPF_MAP_TYPE_ARRAY, 4, sizeof(uint64_t),
			  RVF_WIRE_MEMBER_WORDS, BPF_F_MMAPABLE },
	[MAP_COUNTERS] = { "rvf_counters", BPF_MAP_TYPE_PERCPU_ARRAY, 4,
			   sizeof(struct rvf_wire_counters), RVF_WIRE_NSLOTS, 0 },
	[MAP_XSKS] = { "rvf_xsks", BPF_MAP_TYPE_XSKMAP, 4, 4, RVF_WIRE_XSK_QUEUES, 0 },
	[MAP_XSKS_SG] = { "rvf_xsks_sg", BPF_MAP_TYPE_XSKMAP, 4, 4, RVF_WIRE_XSK_QUEUES, 0 },
};

/* ---- libbpf's messages ------------------------------------------------------ */

/* The verifier log of a failed load, captured for the thread doing the load. */
struct vlog {
	char prog[64];
	char tail[2048];                /* its last lines */
};
static __thread struct vlog *vlog_capture;

/* Keep the last lines of log (at most sizeof(v->tail) - 1 bytes, whole lines). */
static void vlog_keep(struct vlog *v, const char *prog, size_t prog_len, const char *log, size_t len)
{
	size_t start;

	if (prog_len >= sizeof(v->prog))
		prog_len = sizeof(v->prog) - 1;
	memcpy(v->prog, prog, prog_len);
	v->prog[prog_len] = 0;
	while (len && (log[len - 1] == '\n' || log[len - 1] == ' '))
		len--;
	start = len > sizeof(v->tail) - 1 ? len - (sizeof(v->tail) - 1) : 0;
	if (start)
		while (start < len && log[start - 1] != '\n')
			start++;
	memcpy(v->tail, log + start, len - start);
	v->tail[len - start] = 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static const char begin[] = "-- BEGIN PROG LOAD LOG --\n", end[] = "-- END PROG LOAD LOG --";
	char *msg = NULL, *b, *e, *q;
	va_list aq;
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	va_copy(aq, ap);
	n = vasprintf(&msg, fmt, aq);
	va_end(aq);
	if (n < 0)
		return 0;
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	b = strstr(msg, begin);
	if (b) {
		/* "prog 'NAME': -- BEGIN PROG LOAD LOG --\n<log>-- END PROG LOAD LOG --" */
		char *name = strstr(msg, "prog '");

		e = strstr(b, end);
		q = name ? strchr(name + 6, '\'') : NULL;
		if (vlog_capture)
			vlog_keep(vlog_capture, name && q ? name + 6 : "?",
				  name && q ? (size_t)(q - name - 6) : 1,
				  b + sizeof(begin) - 1, (size_t)((e ? e : msg + n) - b) - (sizeof(begin) - 1));
		log_debug("libbpf: verifier log of %d bytes (its tail is logged with the failure)", n);
	} else if (level == LIBBPF_WARN) {
		log_warn("%s", msg);
	} else {
		log_debug("%s", msg);
	}
	free(msg);
	return n;
}

static pthread_once_t print_once = PTHREAD_ONCE_INIT;

static void print_install(void)
{
	libbpf_set_print(libbpf_print);
}

/* The verifier's own complaint in a log tail: the last line that is not the
 * closing statistics. Returned in out (NUL-ended). */
static void vlog_reason(const char *tail, char *out, size_t outlen)
{
	const char *end = tail + strlen(tail), *line;

	out[0] = 0;
	while (end > tail) {
		size_t len;

		line = end;
		while (line > tail && line[-1] != '\n')
			line--;
		len = (size_t)(end - line);
		if (len && strncmp(line, "processed ", 10) && strncmp(line, "verification time", 17) &&
		    strncmp(line, "stack depth", 11)) {
			if (len >= outlen)
				len = outlen - 1;
			memcpy(out, line, len);
			out[len] = 0;
			return;
		}
		end = line > tail ? line - 1 : tail;
	}
}

/* ---- ABI ---------------------------------------------------------------------- */

/* Offset of the .rodata variable name of size bytes, from the object's BTF. */
static int rodata_var(struct bpf_object *obj, const char *name, uint32_t size, size_t *off)
{
	const struct btf_var_secinfo *vi;
	const struct btf_type *sec;
	struct btf *btf = bpf_object__btf(obj);
	int id, i;

	if (!btf)
		return log_fail(-EPROTO, "prefilter object has no BTF (build it with clang -g)");
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	sec = id > 0 ? btf__type_by_id(btf, id) : NULL;
	if (!sec)
		return log_fail(-EPROTO, "prefilter object has no .rodata (no %s)", name);
	vi = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vi++) {
		const struct btf_type *var = btf__type_by_id(btf, vi->type);
		const char *vn = var ? btf__name_by_offset(btf, var->name_off) : NULL;

		if (!vn || strcmp(vn, name))
			continue;
		if (vi->size != size)
			return log_fail(-EPROTO, "prefilter .rodata %s is %u bytes, this rvfd expects %u",
					name, vi->size, size);
		*off = vi->offset;
		return 0;
	}
	return log_fail(-EPROTO, "prefilter object has no .rodata variable %s", name);
}

/*
 * Check the opened object is the prefilter this build speaks to and set its
 * port. Unknown extra programs are not loaded.
 */
static int abi_check(struct rvf_bpf *b, uint16_t port)
{
	struct bpf_program *p;
	struct bpf_map *ro;
	size_t abi_off, port_off, sz;
	const void *init;
	uint32_t abi;
	uint8_t *copy;
	int i, err;

	for (i = 0; i < RVF_BPF_NPROGS; i++) {
		const struct prog_abi *w = &want_progs[i];

		p = bpf_object__find_program_by_name(b->obj, w->name);
		if (!p)
			return log_fail(-EPROTO, "prefilter object has no program %s", w->name);
		if (bpf_program__type(p) != w->type)
			return log_fail(-EPROTO, "prefilter program %s has type %s, expected %s", w->name,
					libbpf_bpf_prog_type_str(bpf_program__type(p)),
					libbpf_bpf_prog_type_str(w->type));
		if (strcmp(bpf_program__section_name(p), w->sec))
			return log_fail(-EPROTO, "prefilter program %s is in section %s, expected %s",
					w->name, bpf_program__section_name(p), w->sec);
		b->prog[i] = p;
	}
	bpf_object__for_each_program(p, b->obj) {
		for (i = 0; i < RVF_BPF_NPROGS && p != b->prog[i]; i++)
			;
		if (i == RVF_BPF_NPROGS) {
			log_warn("prefilter object: program %s is not one rvfd knows; not loading it",
				 bpf_program__name(p));
			bpf_program__set_autoload(p, false);
		}
	}
	for (i = 0; i < NMAPS; i++) {
		const struct map_abi *w = &want_maps[i];
		struct bpf_map *m = bpf_object__find_map_by_name(b->obj, w->name);

		if (!m)
			return log_fail(-EPROTO, "prefilter object has no map %s", w->name);
		if (bpf_map__type(m) != w->type || bpf_map__key_size(m) != w->key ||
		    bpf_map__value_size(m) != w->value || bpf_map__max_entries(m) != w->entries ||
		    bpf_map__map_flags(m) != w->flags)
			return log_fail(-EPROTO, "prefilter map %s is %s key %u value %u entries %u flags "
					"0x%x; this rvfd expects %s key %u value %u entries %u flags 0x%x",
					w->name, libbpf_bpf_map_type_str(bpf_map__type(m)),
					bpf_map__key_size(m), bpf_map__value_size(m),
					bpf_map__max_entries(m), bpf_map__map_flags(m),
					libbpf_bpf_map_type_str(w->type), w->key, w->value, w->entries,
					w->flags);
		b->map[i] = m;
	}
	ro = bpf_object__find_map_by_name(b->obj, ".rodata");
	if (!ro)
		return log_fail(-EPROTO, "prefilter object has no .rodata map");
	err = rodata_var(b->obj, "rvf_abi_version", sizeof(uint32_t), &abi_off);
	err = err ? err : rodata_var(b->obj, "rvf_port", sizeof(uint16_t), &port_off);
	if (err)
		return err;
	init = bpf_map__initial_value(ro, &sz);
	if (!init || abi_off + sizeof(abi) > sz || port_off + sizeof(port) > sz)
		return log_fail(-EPROTO, "prefilter .rodata is shorter than its BTF says");
	memcpy(&abi, (const uint8_t *)init + abi_off, sizeof(abi));
	if (abi != RVF_WIRE_ABI_VERSION)
		return log_fail(-EPROTO, "prefilter object speaks wire ABI %u, this rvfd speaks %u",
				abi, RVF_WIRE_ABI_VERSION);
	copy = malloc(sz);
	if (!copy)
		return log_fail(-ENOMEM, "prefilter: out of memory");
	memcpy(copy, init, sz);
	memcpy(copy + port_off, &port, sizeof(port));
	err = bpf_map__set_initial_value(ro, copy, sz);
	free(copy);
	if (err)
		return log_fail(err, "prefilter: cannot set rvf_port: %s", strerror(-err));
	return 0;
}

/* ---- pinning ------------------------------------------------------------------ */

static const char *pin_name(int i)
{
	return i < RVF_BPF_NPROGS ? want_progs[i].name : want_maps[i - RVF_BPF_NPROGS].name;
}

/* Make sure dir is (or will be) on a bpffs; mount one on /sys/fs/bpf when
 * that is where dir lives and nothing is mounted there yet. */
static int ensure_bpffs(const char *dir)
{
	char path[PATH_MAX];
	struct statfs sf;
	char *slash;

	if (strlen(dir) >= sizeof(path))
		return log_fail(-ENAMETOOLONG, "pin dir %s: name too long", dir);
	strcpy(path, dir);
	for (;;) {
		if (statfs(path, &sf) == 0)
			break;
		if (errno != ENOENT)
			return log_fail(-errno, "pin dir %s: %s: %s", dir, path, strerror(errno));
		slash = strrchr(path, '/');
		if (!slash || slash == path)
			return log_fail(-ENOENT, "pin dir %s: no existing parent", dir);
		*slash = 0;
	}
	if (sf.f_type == BPF_FS_MAGIC)
		return 0;
	if (strcmp(path, "/sys/fs/bpf"))
		return log_fail(-EINVAL, "pin dir %s: %s is not on a bpf filesystem (mount -t bpf bpf "
				"/sys/fs/bpf, or pin below it)", dir, path);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
		return log_fail(-errno, "pin dir %s: cannot mount bpffs on /sys/fs/bpf: %s", dir,
				strerror(errno));
	log_info("mounted a bpf filesystem on /sys/fs/bpf (it was not mounted)");
	return 0;
}

/* mkdir -p dir: parents 0755, dir itself 0700. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];
	char *p;

	strcpy(path, dir);      /* length checked by ensure_bpffs */
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) && errno != EEXIST)
			return log_fail(-errno, "pin dir %s: mkdir %s: %s", dir, path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return log_fail(-errno, "pin dir %s: mkdir: %s", dir, strerror(errno));
	return 0;
}

int pin_path(const char *dir, const char *name, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		return log_fail(-ENAMETOOLONG, "pin dir %s: name too long", dir);
	return 0;
}

static int pin_all(struct rvf_bpf *b, const char *dir)
{
	char path[PATH_MAX];
	int i, err;

	if (dir[0] != '/')
		return log_fail(-EINVAL, "pin dir %s: must be an absolute path", dir);
	err = ensure_bpffs(dir);
	err = err ? err : make_dirs(dir);
	if (err)
		return err;
	b->pin_dir = strdup(dir);
	if (!b->pin_dir)
		return log_fail(-ENOMEM, "pin dir %s: out of memory", dir);
	b->pin_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->pin_fd < 0)
		return log_fail(-errno, "pin dir %s: %s", dir, strerror(errno));
	if (flock(b->pin_fd, LOCK_EX | LOCK_NB))
		return log_fail(errno == EWOULDBLOCK ? -EBUSY : -errno,
				"pin dir %s is in use by another live rvfd instance%s", dir,
				errno == EWOULDBLOCK ? "" : " (cannot lock it)");
	b->pin_locked = true;
	for (i = 0; i < NPINS; i++) {
		err = pin_path(dir, pin_name(i), path, sizeof(path));
		if (err)
			return err;
		if (unlink(path) == 0)
			log_warn("%s: replaced a pin left behind by an earlier instance", path);
		else if (errno != ENOENT)
			return log_fail(-errno, "%s: cannot remove the old pin: %s", path, strerror(errno));
		err = i < RVF_BPF_NPROGS ? bpf_program__pin(b->prog[i], path)
					 : bpf_map__pin(b->map[i - RVF_BPF_NPROGS], path);
		if (err)
			return log_fail(err, "%s: cannot pin: %s", path, strerror(-err));
		b->pinned[i] = true;
	}
	return 0;
}

static void unpin_all(struct rvf_bpf *b)
{
	char path[PATH_MAX];
	int i;

	for (i = NPINS - 1; i >= 0; i--) {
		if (!b->pinned[i] || pin_path(b->pin_dir, pin_name(i), path, sizeof(path)))
			continue;
		if (unlink(path))
			log_warn("%s: cannot unpin: %s", path, strerror(errno));
		b->pinned[i] = false;
	}
	if (b->pin_locked && rmdir(b->pin_dir) && errno != ENOTEMPTY && errno != ENOENT)
		log_warn("pin dir %s: cannot remove: %s", b->pin_dir, strerror(errno));
	if (b->pin_fd >= 0)
		close(b->pin_fd);       /* drops the lock */
	b->pin_fd = -1;
	b->pin_locked = false;
}

/* ---- open / close ------------------------------------------------------------- */

static int map_mmap(struct bpf_map *m, size_t *len, uint64_t **out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = (size_t)bpf_map__value_size(m) * bpf_map__max_entries(m);
	void *p;

	n = (n + page - 1) / page * page;
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	if (p == MAP_FAILED)
		return log_fail(-errno, "prefilter map %s: mmap: %s", bpf_map__name(m), strerror(errno));
	*len = n;
	*out = p;
	return 0;
}

static int load(struct rvf_bpf *b, const struct rvf_bpf_opts *o)
{
	struct vlog *v = calloc(1, sizeof(*v));
	char reason[256];
	int err;

	if (!v)
		return log_fail(-ENOMEM, "prefilter: out of memory");
	vlog_capture = v;
	err = bpf_object__load(b->obj);
	vlog_capture = NULL;
	if (err && v->tail[0]) {
		const char *line = v->tail, *nl;

		log_error("prefilter: the verifier refused %s; the end of its log:", v->prog);
		for (; *line; line = nl + 1) {
			nl = strchr(line, '\n');
			log_error("  verifier: %.*s", (int)(nl ? nl - line : (long)strlen(line)), line);
			if (!nl)
				break;
		}
		vlog_reason(v->tail, reason, sizeof(reason));
		if (o && o->log_buf && o->log_len) {
			/* the end of the tail that fits, from a line start */
			const char *t = v->tail;
			size_t len = strlen(t);

			if (len > o->log_len - 1) {
				t += len - (o->log_len - 1);
				while (t > v->tail && t[-1] != '\n' && *t)
					t++;
			}
			snprintf(o->log_buf, o->log_len, "%s", t);
		}
		log_error("prefilter: the verifier refused %s (%s): %s", v->prog, strerror(-err), reason);
	} else if (err == -EPERM || err == -EACCES) {
		log_error("prefilter: not permitted to load BPF programs (%s): needs CAP_BPF and "
			  "CAP_NET_ADMIN", strerror(-err));
	} else if (err) {
		log_error("prefilter: loading failed: %s", strerror(-err));
	}
	free(v);
	return err;
}

int rvf_bpf_open(const struct rvf_bpf_opts *o, struct rvf_bpf **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = OBJ_NAME);
	static const struct rvf_bpf_opts none;
	struct rvf_bpf *b;
	const void *obj;
	size_t obj_len;
	uint16_t port;
	void *copy = NULL;
	int err;

	if (!out)
		return -EINVAL;
	if (!o)
		o = &none;
	obj = o->obj ? o->obj : rvf_bpf_builtin(&obj_len);
	if (o->obj)
		obj_len = o->obj_len;
	if (!obj_len)
		return log_fail(-EINVAL, "prefilter: empty object");
	port = o->port ? o->port : RVF_WIRE_DEFAULT_PORT;
	pthread_once(&print_once, print_install);
	b = calloc(1, sizeof(*b));
	copy = malloc(obj_len);     /* libelf may write to its input; the builtin is read-only */
	if (!b || !copy) {
		err = log_fail(-ENOMEM, "prefilter: out of memory");
		goto fail;
	}
	b->pin_fd = -1;
	memcpy(copy, obj, obj_len);
	b->obj = bpf_object__open_mem(copy, obj_len, &oo);
	if (!b->obj) {
		/* open only parses: anything but memory is a bad object */
		err = errno == ENOMEM ? -ENOMEM : -EPROTO;
		log_error("prefilter: not a BPF ELF object libbpf can open (%s)",
			  errno < 4000 ? strerror(errno) : "bad ELF format");
		goto fail;
	}
	err = abi_check(b, port);
	err = err ? err : load(b, o);
	free(copy);
	copy = NULL;
	err = err ? err : map_mmap(b->map[MAP_NS], &b->ns_len, &b->ns_words);
	err = err ? err : map_mmap(b->map[MAP_MEMBERS], &b->member_len, &b->member_words);
	if (!err && o->pin_dir)
		err = pin_all(b, o->pin_dir);
	if (err)
		goto fail;
	log_debug("prefilter loaded (port %u%s%s)", port, o->pin_dir ? ", pinned in " : "",
		  o->pin_dir ? o->pin_dir : "");
	*out = b;
	return 0;
fail:
	free(copy);
	rvf_bpf_close(b);
	return err;
}

void rvf_bpf_close(struct rvf_bpf *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->nxdps; i++)
		close(b->xdps[i].link_fd);      /* a bpf_link: closing detaches */
	for (i = 0; i < b->nsocks; i++) {
		struct sock_att *s = &b->socks[i];
		struct stat st;
		socklen_t len = 0;
		int zero = 0;

		/* Only the socket we attached to, and only while an eBPF filter
		 * sits on it (SO_GET_FILTER answers EACCES for eBPF; a classic
		 * filter someone put there since is left alone). */
		if (fstat(s->fd, &st) || !S_ISSOCK(st.st_mode) || st.st_dev != s->dev ||
		    st.st_ino != s->ino)
			continue;
		if (getsockopt(s->fd, SOL_SOCKET, SO_GET_FILTER, NULL, &len) == 0 || errno != EACCES)
			continue;
		if (setsockopt(s->fd, SOL_SOCKET, SO_DETACH_BPF, &zero, sizeof(zero)))
			log_warn("prefilter: cannot detach from socket %d: %s", s->fd, strerror(errno));
	}
	unpin_all(b);
	if (b->ns_words)
		munmap(b->ns_words, b->ns_len);
	if (b->member_words)
		munmap(b->member_words, b->member_len);
	bpf_object__close(b->obj);
	free(b->pin_dir);
	free(b->socks);
	free(b->xdps);
	free(b);
}

/* ---- namespaces --------------------------------------------------------------- */

int rvf_bpf_set_ns(struct rvf_bpf *b, uint32_t ns, const struct rvf_wire_ns *cfg)
{
	uint64_t raw = 0;
	uint32_t esz;

	if (!b || ns >= RVF_WIRE_MAX_NS)
		return log_fail(-EINVAL, "prefilter: namespace %u out of range (< %u)", ns,
				RVF_WIRE_MAX_NS);
	if (cfg) {
		esz = rvf_wire_elem_size(cfg->elem_type);
		if (!esz || cfg->dim == 0 || cfg->dim > RVF_WIRE_MAX_DIM ||
		    RVF_WIRE_QUERY_HDR_LEN + (uint32_t)cfg->dim * esz > RVF_WIRE_MAX_DATAGRAM ||
		    cfg->max_k > RVF_WIRE_MAX_K || cfg->reserved8 || cfg->reserved16)
			return log_fail(-EINVAL, "prefilter: namespace %u: dim %u elem_type %u max_k %u "
					"is not a shape a query datagram can have", ns, cfg->dim,
					cfg->elem_type, cfg->max_k);
		memcpy(&raw, cfg, sizeof(raw));
	}
	__atomic_store_n(&b->ns_words[ns], raw, __ATOMIC_RELEASE);
	return 0;
}

int rvf_bpf_set_member(struct rvf_bpf *b, uint32_t ns, bool member)
{
	uint64_t bit = 1ull << (ns % 64);

	if (!b || ns >= RVF_WIRE_MAX_NS)
		return log_fail(-EINVAL, "prefilter: namespace %u out of range (< %u)", ns,
				RVF_WIRE_MAX_NS);
	if (member)
		__atomic_fetch_or(&b->member_words[ns / 64], bit, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&b->member_words[ns / 64], ~bit, __ATOMIC_RELEASE);
	return 0;
}

/* ---- attach ------------------------------------------------------------------- */

int rvf_bpf_attach_socket(struct rvf_bpf *b, int fd)
{
	int prog_fd, type = 0, proto = 0;
	socklen_t len = sizeof(int);
	struct sock_att *n;
	struct stat st;
	size_t i;

	if (!b || fd < 0)
		return -EINVAL;
	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
	    type != SOCK_DGRAM || proto != IPPROTO_UDP)
		return log_fail(-EINVAL, "prefilter: fd %d is not a UDP socket", fd);
	prog_fd = bpf_program__fd(b->prog[RVF_BPF_PROG_SOCK]);
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd)))
		return log_fail(-errno, "prefilter: cannot attach sock_prefilter to socket %d: %s", fd,
				strerror(errno));
	for (i = 0; i < b->nsocks; i++)
		if (b->socks[i].fd == fd && b->socks[i].dev == st.st_dev && b->socks[i].ino == st.st_ino)
			return 0;
	n = realloc(b->socks, (b->nsocks + 1) * sizeof(*n));
	if (!n) {
		int zero = 0;

		setsockopt(fd, SOL_SOCKET, SO_DETACH_BPF, &zero, sizeof(zero));
		return log_fail(-ENOMEM, "prefilter: out of memory");
	}
	b->socks = n;
	b->socks[b->nsocks++] = (struct sock_att){ .fd = fd, .dev = st.st_dev, .ino = st.st_ino };
	return 0;
}

static int if_mtu(int ifindex, char name[IF_NAMESIZE], int *mtu)
{
	struct ifreq ifr;
	int s, err = 0;

	if (!if_indextoname((unsigned)ifindex, name))
		return log_fail(-ENODEV, "prefilter: no interface with index %d here", ifindex);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return log_fail(-errno, "prefilter: socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFMTU, &ifr))
		err = log_fail(-errno, "prefilter: %s: cannot read the MTU: %s", name, strerror(errno));
	else
		*mtu = ifr.ifr_mtu;
	close(s);
	return err;
}

int rvf_bpf_attach_xdp(struct rvf_bpf *b, int ifindex, int mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	enum rvf_bpf_prog which;
	char name[IF_NAMESIZE];
	struct xdp_att *n;
	int mtu = 0, fd, err;
	size_t i;

	if (!b || ifindex <= 0 || (mode != RVF_XDP_NATIVE && mode != RVF_XDP_GENERIC))
		return log_fail(-EINVAL, "prefilter: bad XDP attach request (ifindex %d, mode %d)",
				ifindex, mode);
	for (i = 0; i < b->nxdps; i++)
		if (b->xdps[i].ifindex == ifindex)
			return log_fail(-EEXIST, "prefilter: already attached to ifindex %d", ifindex);
	err = if_mtu(ifindex, name, &mtu);
	if (err)
		return err;
	n = realloc(b->xdps, (b->nxdps + 1) * sizeof(*n));
	if (!n)
		return log_fail(-ENOMEM, "prefilter: out of memory");
	b->xdps = n;
	lo.flags = mode == RVF_XDP_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	which = (unsigned)mtu > RVF_XDP_LINEAR_MTU ? RVF_BPF_PROG_XDP_MB : RVF_BPF_PROG_XDP;
	fd = bpf_link_create(bpf_program__fd(b->prog[which]), ifindex, BPF_XDP, &lo);
	if (fd == -ERANGE && which == RVF_BPF_PROG_XDP) {
		log_info("prefilter: %s refuses a linear XDP program at MTU %d; using the frags one",
			 name, mtu);
		which = RVF_BPF_PROG_XDP_MB;
		fd = bpf_link_create(bpf_program__fd(b->prog[which]), ifindex, BPF_XDP, &lo);
	}
	if (fd < 0) {
		const char *hint = fd == -EBUSY ? " (it already has an XDP program: bpftool net show)"
				 : fd == -EOPNOTSUPP ? " (no native XDP in this driver: use generic mode)"
				 : fd == -ERANGE ? " (MTU too large for XDP on this driver)" : "";

		return log_fail(fd, "prefilter: cannot attach %s to %s in %s mode: %s%s",
				want_progs[which].name, name,
				mode == RVF_XDP_NATIVE ? "native" : "generic", strerror(-fd), hint);
	}
	b->xdps[b->nxdps++] = (struct xdp_att){ .ifindex = ifindex, .link_fd = fd };
	log_info("prefilter: %s attached to %s (%s mode, MTU %d)", want_progs[which].name, name,
		 mode == RVF_XDP_NATIVE ? "native" : "generic", mtu);
	return 0;
}

int rvf_bpf_prog_fd(const struct rvf_bpf *b, enum rvf_bpf_prog p)
{
	if (!b || (unsigned)p >= RVF_BPF_NPROGS)
		return -EINVAL;
	return bpf_program__fd(b->prog[p]);
}
