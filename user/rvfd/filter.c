/*
 * rvfd/filter.c - the kernel filter in front of the workers' sockets, as a
 * ladder chosen once at start and logged once:
 *
 *   ebpf   the prefilter (user/bpfload) as a socket filter on every worker
 *          socket, plus XDP on --iface: header, length, k and namespace
 *          shape and membership checked before a datagram is queued
 *   cbpf   when eBPF is not permitted: a classic BPF socket filter checking
 *          length, magic, version, dim and k for the one shape every
 *          namespace shares (needs no privilege; no membership check)
 *   none   userspace validation only (--no-bpf, or both above failed)
 *
 * Userspace re-validates every datagram at every level (handle.c): a kernel
 * filter only sheds load early.
 *
 * The eBPF object: the newest EBPF segment of the first store that has one,
 * checked (rvf_bpf_check_segment: hash, dimension bound, and the built-in
 * program's hash unless --trust-ebpf); a store without one gets the
 * built-in object embedded when its file is writable and no writer holds it,
 * else the built-in object runs from memory. Which of these happened is in
 * the start-up line and in `rvf stats` (filter_note).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpfload/bpfload.h"
#include "common/log.h"
#include "rvfd/rvfd.h"

struct rvfd_bpf {
	struct rvf_bpf *b;
};

static void note(struct rvfd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct rvfd *d, const char *fmt, ...)
{
	size_t len = strlen(d->filter_why);
	va_list ap;

	if (len && len + 2 < sizeof(d->filter_why)) {
		memcpy(d->filter_why + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(d->filter_why + len, sizeof(d->filter_why) - len, fmt, ap);
	va_end(ap);
}

/* Embed the built-in prefilter into store n if it is writable and free.
 * 0 when embedded (the watcher then picks the commit up). */
static int embed_builtin(struct rvfd_ns *n)
{
	struct rvf_store_opts so = { .write_timeout_ms = 100 };
	struct rvf_ebpf_opts eo = { .program_type = RVF_EBPF_PROG_SOCKET_FILTER,
				    .attach_type = RVF_EBPF_ATTACH_SOCKET_FILTER,
				    .max_dimension = RVF_WIRE_MAX_DIM };
	struct rvf_store *w = NULL;
	const void *obj;
	size_t len;
	int rc;

	if (access(n->path, W_OK))
		return -errno;
	rc = rvf_store_open(n->path, &so, &w);
	if (rc)
		return rc;
	obj = rvf_bpf_builtin(&len);
	rc = rvf_store_embed_ebpf(w, &eo, obj, len, NULL, 0, NULL);
	if (rc) {
		rvf_store_close(w);
		return rc;
	}
	return rvf_store_close(w);
}

/* The object to load: *obj NULL = the built-in one. *owned to free. */
static void choose_object(struct rvfd *d, uint32_t max_dim, void **owned, const void **obj, size_t *len)
{
	*owned = NULL;
	*obj = NULL;
	*len = 0;
	for (size_t i = 0; i < d->n_ns; i++) {
		struct rvf_ebpf_hdr h;
		void *prog = NULL;
		size_t plen = 0;
		int rc = rvf_store_extract_ebpf(d->ns[i].store, &h, &prog, &plen, NULL, NULL);

		if (rc == -ENOENT)
			continue;
		if (rc) {
			log_warn("namespace %u: %s: cannot read its EBPF segment: %s", d->ns[i].id,
				 d->ns[i].path, rvf_strerror(rc));
			continue;
		}
		rc = rvf_bpf_check_segment(&h, prog, plen, max_dim, d->trust_ebpf);
		if (rc) {
			note(d, "%s's EBPF segment refused (%s%s)", d->ns[i].path, rvf_strerror(rc),
			     rc == -EPERM ? ": not the built-in prefilter; --trust-ebpf loads it" : "");
			free(prog);
			continue;
		}
		note(d, "prefilter from %s's EBPF segment", d->ns[i].path);
		*owned = prog;
		*obj = prog;
		*len = plen;
		return;
	}
	/* none usable: the built-in one, embedded where allowed */
	for (size_t i = 0; i < d->n_ns; i++) {
		struct rvf_ebpf_hdr h;
		void *prog = NULL;
		size_t plen = 0;
		int rc;

		if (rvf_store_extract_ebpf(d->ns[i].store, &h, &prog, &plen, NULL, NULL) == 0) {
			free(prog);
			continue;   /* it has one (refused above): leave it */
		}
		rc = embed_builtin(&d->ns[i]);
		if (rc == 0)
			note(d, "built-in prefilter, now embedded in %s", d->ns[i].path);
		else
			note(d, "built-in prefilter from memory (%s has no EBPF segment and is not "
			     "writable here: %s)", d->ns[i].path, rvf_strerror(rc));
		return;
	}
	note(d, "built-in prefilter from memory");
}

static int try_ebpf(struct rvfd *d)
{
	struct rvf_bpf_opts o = {
		.port = net_addr_port(&d->listen),
		.pin_dir = d->pin_dir,
	};
	uint32_t max_dim = 0;
	void *owned;
	int rc;

	for (size_t i = 0; i < d->n_ns; i++)
		if (d->ns[i].shape.dim > max_dim)
			max_dim = d->ns[i].shape.dim;
	choose_object(d, max_dim, &owned, &o.obj, &o.obj_len);
	d->bpf = calloc(1, sizeof(*d->bpf));
	if (!d->bpf) {
		free(owned);
		return -ENOMEM;
	}
	rc = rvf_bpf_open(&o, &d->bpf->b);
	free(owned);
	if (rc) {
		if (rc == -EBUSY)
			log_error("pin directory %s is held by another live rvfd (use another --instance "
				  "or --pin-dir)", d->pin_dir);
		else
			note(d, "eBPF refused: %s", rvf_last_error()[0] ? rvf_last_error() : rvf_strerror(rc));
		goto fail;
	}
	for (size_t i = 0; i < d->n_ns; i++)
		if ((rc = rvf_bpf_set_ns(d->bpf->b, d->ns[i].id, &d->ns[i].shape)) ||
		    (rc = rvf_bpf_set_member(d->bpf->b, d->ns[i].id, true))) {
			note(d, "namespace %u: cannot configure the prefilter (%s)", d->ns[i].id,
			     rvf_strerror(rc));
			goto fail_close;
		}
	for (unsigned t = 0; t < d->threads; t++)
		if ((rc = rvf_bpf_attach_socket(d->bpf->b, d->workers[t].fd))) {
			note(d, "socket filter refused (%s)", rvf_strerror(rc));
			goto fail_close;
		}
	note(d, "socket filter on %u socket%s, pinned in %s", d->threads, d->threads == 1 ? "" : "s",
	     d->pin_dir);
	return 0;
fail_close:
	rvf_bpf_close(d->bpf->b);
fail:
	free(d->bpf);
	d->bpf = NULL;
	return rc;
}

static int try_cbpf(struct rvfd *d)
{
	int rc;

	for (size_t i = 1; i < d->n_ns; i++)
		if (d->ns[i].shape.dim != d->ns[0].shape.dim) {
			note(d, "classic BPF not used: its filter checks one dimension and the namespaces "
			     "have several");
			return -EINVAL;
		}
	for (unsigned t = 0; t < d->threads; t++) {
		rc = rvf_cbpf_attach(d->workers[t].fd, d->ns[0].shape.dim, d->ns[0].shape.elem_type);
		if (rc) {
			/* a socket that already has the filter keeps it (SO_LOCK_FILTER):
			 * only a first failure leaves every socket unfiltered */
			note(d, "classic BPF refused: %s", rvf_last_error()[0] ? rvf_last_error() : rvf_strerror(rc));
			return rc;
		}
	}
	note(d, "classic BPF socket filter (length, magic, version, dim %u, k) on %u socket%s; "
	     "namespace membership checked in userspace", d->ns[0].shape.dim, d->threads,
	     d->threads == 1 ? "" : "s");
	return 0;
}

int filter_setup(struct rvfd *d)
{
	int rc;

	d->filter_why[0] = '\0';
	if (d->no_bpf) {
		d->filter_level = RVFD_FILTER_NONE;
		note(d, "--no-bpf: datagrams are validated in userspace only");
		return 0;
	}
	rc = try_ebpf(d);
	if (rc == -EBUSY)
		return rc;   /* a configuration error, not a missing privilege */
	if (rc == 0) {
		d->filter_level = RVFD_FILTER_EBPF;
	} else if (try_cbpf(d) == 0) {
		d->filter_level = RVFD_FILTER_CBPF;
	} else {
		d->filter_level = RVFD_FILTER_NONE;
		note(d, "datagrams are validated in userspace only");
	}
	if (d->iface) {
		int ifindex = (int)if_nametoindex(d->iface);

		if (!ifindex)
			return log_fail(-ENODEV, "--iface %s: no such interface in this network namespace",
					d->iface);
		if (d->xdp_mode < 0) {
			note(d, "XDP off (--xdp off)");
		} else if (d->filter_level != RVFD_FILTER_EBPF) {
			note(d, "XDP not attached to %s: it needs the eBPF level", d->iface);
		} else if ((rc = rvf_bpf_attach_xdp(d->bpf->b, ifindex, d->xdp_mode))) {
			note(d, "XDP %s on %s refused (%s): the socket filter still drops",
			     d->xdp_mode == RVF_XDP_NATIVE ? "native" : "generic", d->iface, rvf_strerror(rc));
		} else {
			d->xdp_attached = true;
			note(d, "XDP %s on %s", d->xdp_mode == RVF_XDP_NATIVE ? "native" : "generic", d->iface);
		}
	}
	return 0;
}

void filter_publish_user(struct rvfd *d, const struct rvf_wire_counters *user)
{
	if (d->bpf)
		rvf_bpf_set_user_counters(d->bpf->b, user);
}

void filter_teardown(struct rvfd *d)
{
	if (!d->bpf)
		return;
	rvf_bpf_close(d->bpf->b);   /* detaches XDP and the socket filters, unpins */
	free(d->bpf);
	d->bpf = NULL;
}

int filter_counters(struct rvfd *d, uint32_t slot, struct rvf_wire_counters *out)
{
	if (!d->bpf)
		return -ENOENT;
	return rvf_bpf_counters(d->bpf->b, slot, out);
}

int filter_xsk_set(struct rvfd *d, uint32_t queue, int fd, bool multi_buffer)
{
	if (!d->bpf)
		return -ENOENT;
	return rvf_bpf_xsk_set(d->bpf->b, queue, fd, multi_buffer);
}

void filter_xsk_clear(struct rvfd *d, uint32_t queue)
{
	if (d->bpf)
		rvf_bpf_xsk_clear(d->bpf->b, queue);
}
