/*
 * rvfd/afxdp.c - `--xdp-mode afxdp`: the kernel-bypass receive path beside
 * the UDP workers.
 *
 * Set-up (once, after the filter ladder), the first rung that works:
 *   zerocopy   every queue's socket bound with XDP_ZEROCOPY
 *   copy       the driver refused zero-copy (veth: EOPNOTSUPP): XDP_COPY
 *   udp        AF_XDP not possible (no eBPF level, XDP not attached, no
 *              CAP_NET_RAW, memlock, ...): the UDP workers serve alone
 * The outcome is logged once, kept in d->xsk_mode / d->xsk_why and in the
 * stats (`afxdp`), with counters of refused zero-copy binds and fallbacks.
 *
 * One AF_XDP worker per queue: its own socket, UMEM and query context, the
 * same handle_datagram as the UDP workers, replies through the UDP worker
 * socket q % threads (bound to the served port, so replies look the same).
 * The UDP workers keep serving what XDP passes: fragmented or oversized
 * queries, stats requests, queues without a socket.
 *
 * Shutdown: the map entries are cleared before the workers are told to
 * stop (queries from then on pass to the stack, where the draining UDP
 * workers answer SHUTTING_DOWN, instead of filling a ring nobody reads);
 * the AF_XDP workers answer what their RX rings hold; then the sockets are
 * closed and their UMEMs unmapped; the XDP program and the maps go with
 * filter_teardown.
 */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "rvfd/rvfd.h"

unsigned rvfd_nworkers(const struct rvfd *d)
{
	return d->threads + d->n_xworkers;
}

struct rvfd_worker *rvfd_worker_at(struct rvfd *d, unsigned i)
{
	return i < d->threads ? &d->workers[i] : &d->xworkers[i - d->threads];
}

static void why(struct rvfd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(struct rvfd *d, const char *fmt, ...)
{
	size_t len = strlen(d->xsk_why);
	va_list ap;

	if (len && len + 2 < sizeof(d->xsk_why)) {
		memcpy(d->xsk_why + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(d->xsk_why + len, sizeof(d->xsk_why) - len, fmt, ap);
	va_end(ap);
}

/* RX queues of ifname as the driver reports them (ETHTOOL_GCHANNELS: rx +
 * combined), 1 when it does not say. */
static unsigned rx_queues(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	unsigned n = 0;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return 1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	if (ioctl(s, SIOCETHTOOL, &ifr) == 0)
		n = ch.rx_count + ch.combined_count;
	close(s);
	return n ? n : 1;
}

/* The interface's MTU, 0 when it cannot be read. */
static unsigned if_mtu(const char *ifname)
{
	struct ifreq ifr;
	unsigned mtu = 0;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFMTU, &ifr) == 0)
		mtu = (unsigned)ifr.ifr_mtu;
	close(s);
	return mtu;
}

static void close_all(struct rvfd *d)
{
	for (unsigned i = 0; i < d->n_xworkers; i++) {
		struct rvfd_worker *w = &d->xworkers[i];

		if (w->xsk) {
			filter_xsk_clear(d, net_xsk_queue(w->xsk));
			net_xsk_close(w->xsk);
		}
		rvf_query_ctx_free(w->qctx);
	}
	free(d->xworkers);
	d->xworkers = NULL;
	d->n_xworkers = 0;
}

/* Fall back to the UDP path: undo what was made, say why. Returns 0. */
static int fall_back(struct rvfd *d)
{
	close_all(d);
	d->xsk_mode = NET_XSK_OFF;
	d->xsk_fallbacks = 1;
	why(d, "serving by UDP only");
	return 0;
}

int afxdp_setup(struct rvfd *d)
{
	unsigned have, nq, zc = 0, copy = 0, sg = 0, mtu, room;
	int first_zc_err = 0, first_sg_err = 0, rc;

	d->xsk_mode = NET_XSK_OFF;
	d->xsk_why[0] = '\0';
	if (!d->afxdp_wanted)
		return 0;
	have = rx_queues(d->iface);
	if (!d->n_queues) {
		d->n_queues = have < RVF_WIRE_XSK_QUEUES ? have : RVF_WIRE_XSK_QUEUES;
		for (unsigned i = 0; i < d->n_queues; i++)
			d->xsk_queues[i] = i;
	}
	for (unsigned i = 0; i < d->n_queues; i++)
		if (d->xsk_queues[i] >= have)
			return log_fail(-EINVAL, "--queues: %s has %u RX queue%s (0..%u); queue %u does not "
					"exist", d->iface, have, have == 1 ? "" : "s", have - 1,
					d->xsk_queues[i]);
	/* A UMEM frame holds its size less the kernel's 256 bytes of headroom;
	 * frames the interface can carry (MTU + Ethernet + two VLAN tags) that
	 * do not fit need XDP_USE_SG (several descriptors per frame). */
	mtu = if_mtu(d->iface);
	room = (d->xsk_opts.frame_size ? d->xsk_opts.frame_size : NET_XSK_FRAME_SIZE) - 256;
	if (d->filter_level != RVFD_FILTER_EBPF || !d->xdp_attached) {
		why(d, "AF_XDP needs the eBPF prefilter attached as XDP on %s (filter level %s%s)",
		    d->iface, filter_level_name(d->filter_level),
		    d->filter_level == RVFD_FILTER_EBPF ? ", XDP not attached" : "");
		return fall_back(d);
	}
	nq = d->n_queues;
	d->xworkers = calloc(nq, sizeof(*d->xworkers));
	if (!d->xworkers)
		return log_fail(-ENOMEM, "out of memory");
	for (unsigned i = 0; i < nq; i++) {
		struct rvfd_worker *w = &d->xworkers[i];
		struct net_xsk_opts o = d->xsk_opts;
		int zc_err = 0, sg_err = 0;

		d->n_xworkers = i + 1;
		w->d = d;
		w->index = d->threads + i;
		w->fd = d->workers[i % d->threads].fd;   /* replies: borrowed */
		if ((rc = rvf_query_ctx_new(d->ns[0].store, &w->qctx)))
			return log_fail(rc, "query context: %s", rvf_strerror(rc));
		o.ifname = d->iface;
		o.queue = d->xsk_queues[i];
		o.multi_buffer = mtu + 22 > room;
		rc = net_xsk_open(&o, &w->xsk, &zc_err, &sg_err);
		if (sg_err && !first_sg_err)
			first_sg_err = sg_err;
		if (zc_err) {
			d->xsk_zc_refused++;
			if (!first_zc_err)
				first_zc_err = zc_err;
		}
		if (rc) {
			why(d, "AF_XDP socket on %s queue %u refused: %s", d->iface, o.queue,
			    rvf_last_error()[0] ? rvf_last_error() : strerror(-rc));
			return fall_back(d);
		}
		/* Without SG, the prefilter still redirects frames up to
		 * RVF_WIRE_XSK_MAX_FRAME: smaller UMEM frames would drop some */
		if (!net_xsk_multi_buffer(w->xsk) && room < RVF_WIRE_XSK_MAX_FRAME && mtu + 22 > room) {
			close_all(d);
			return log_fail(-EINVAL, "--xsk-frame-size %u holds frames up to %u bytes; %s's MTU "
					"%u needs --xsk-frame-size 4096 (multi-buffer AF_XDP refused: %s)",
					room + 256, room, d->iface, mtu, strerror(-sg_err));
		}
		if (net_xsk_multi_buffer(w->xsk))
			sg++;
		if ((rc = filter_xsk_set(d, o.queue, net_xsk_fd(w->xsk), net_xsk_multi_buffer(w->xsk)))) {
			why(d, "rvf_xsks[%u] refused the socket: %s", o.queue, strerror(-rc));
			return fall_back(d);
		}
		if (net_xsk_mode(w->xsk) == NET_XSK_ZEROCOPY)
			zc++;
		else
			copy++;
	}
	d->xsk_mode = copy ? NET_XSK_COPY : NET_XSK_ZEROCOPY;
	why(d, "%s mode on %s, %u queue%s (", net_xsk_mode_name(d->xsk_mode), d->iface, nq,
	    nq == 1 ? "" : "s");
	for (unsigned i = 0; i < nq; i++) {
		size_t len = strlen(d->xsk_why);

		snprintf(d->xsk_why + len, sizeof(d->xsk_why) - len, "%s%u", i ? "," : "", d->xsk_queues[i]);
	}
	{
		size_t len = strlen(d->xsk_why);

		snprintf(d->xsk_why + len, sizeof(d->xsk_why) - len, ")");
	}
	if (copy && zc)
		why(d, "%u queue%s zero-copy, %u copy", zc, zc == 1 ? "" : "s", copy);
	if (first_zc_err)
		why(d, "zero-copy refused by the driver: %s", strerror(-first_zc_err));
	if (sg)
		why(d, "multi-buffer (XDP_USE_SG) for frames above %u bytes at MTU %u", room, mtu);
	else if (mtu + 22 > RVF_WIRE_XSK_MAX_FRAME)
		why(d, "frames above %u bytes take the UDP path (multi-buffer refused: %s)",
		    RVF_WIRE_XSK_MAX_FRAME, strerror(-first_sg_err));
	d->xsk_multi_buffer = sg;
	return 0;
}

static void *xworker_main(void *arg)
{
	struct rvfd_worker *w = arg;
	struct net_xsk_loop_opts o = {
		.x = w->xsk,
		.reply_fd = w->fd,
		.stop_fd = w->d->stop_fd,
		.port = net_addr_port(&w->d->listen),
		.fn = handle_datagram,
		.ctx = w,
		.reply_cap = RVFD_REPLY_CAP,
	};

	w->rc = net_xsk_loop_run(&o, &w->xio);
	return NULL;
}

int afxdp_start(struct rvfd *d)
{
	for (unsigned i = 0; i < d->n_xworkers; i++) {
		struct rvfd_worker *w = &d->xworkers[i];
		int rc = pthread_create(&w->thread, NULL, xworker_main, w);

		if (rc)
			return log_fail(-rc, "cannot start AF_XDP worker %u: %s", i, strerror(rc));
		w->started = true;
	}
	return 0;
}

void afxdp_unmap(struct rvfd *d)
{
	for (unsigned i = 0; i < d->n_xworkers; i++)
		if (d->xworkers[i].xsk)
			filter_xsk_clear(d, net_xsk_queue(d->xworkers[i].xsk));
}

void afxdp_join(struct rvfd *d)
{
	for (unsigned i = 0; i < d->n_xworkers; i++) {
		struct rvfd_worker *w = &d->xworkers[i];

		if (!w->started)
			continue;
		pthread_join(w->thread, NULL);
		w->started = false;
		if (w->rc)
			log_error("AF_XDP worker %u stopped with %s", i, strerror(-w->rc));
	}
}

void afxdp_teardown(struct rvfd *d)
{
	close_all(d);
}
