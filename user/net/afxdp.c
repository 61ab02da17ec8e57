/*
 * net/afxdp.c - AF_XDP receive path (afxdp.h): UMEM and socket set-up with
 * libxdp's xsk API (its XDP program inhibited: rvfd's prefilter redirects),
 * frame recycling, the frame parser and the receive loop.
 *
 * Frame life cycle (aligned UMEM, one datagram per frame):
 *   free stack --fill_top_up--> fill ring --kernel--> RX ring --peek-->
 *   parsed, handled, reply queued --> free stack (its base address)
 * Every frame is in exactly one of these places; nothing is allocated after
 * set-up.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_xdp.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "common/log.h"
#include "net/afxdp.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
/* Linux 6.6 uapi, not in the 6.1 headers this builds against. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

struct net_xsk {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_ring_cons rx;
	uint8_t *area;
	size_t area_len;
	uint32_t frame_size, nframes, queue;
	uint64_t *free;                 /* stack of free frame base addresses */
	uint32_t nfree;
	enum net_xsk_mode mode;
	bool sg;                        /* bound with XDP_USE_SG */
};

const char *net_xsk_mode_name(enum net_xsk_mode m)
{
	return m == NET_XSK_ZEROCOPY ? "zerocopy" : m == NET_XSK_COPY ? "copy" : "off";
}

/* ---- set-up --------------------------------------------------------------------- */

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	/* libxdp's warnings are about attempts we make on purpose (a refused
	 * zero-copy bind): the caller reports the outcome */
	log_debug("libxdp%s: %s", level == LIBXDP_WARN ? " (warning)" : "", msg);
	return 0;
}

static pthread_once_t print_once = PTHREAD_ONCE_INIT;
static void print_install(void)
{
	libxdp_set_print(libxdp_print);
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* The options with defaults filled in. */
static void resolve(const struct net_xsk_opts *o, uint32_t *fs, uint32_t *rx, uint32_t *fill, uint32_t *nf)
{
	*fs = o->frame_size ? o->frame_size : NET_XSK_FRAME_SIZE;
	*rx = o->rx_size ? o->rx_size : NET_XSK_RING;
	*fill = o->fill_size ? o->fill_size : NET_XSK_RING;
	*nf = o->nframes ? o->nframes : *rx + *fill;
}

int net_xsk_check_opts(const struct net_xsk_opts *o, char *why, size_t why_len)
{
	uint32_t fs, rx, fill, nf;

	resolve(o, &fs, &rx, &fill, &nf);
	if (fs != 2048 && fs != 4096)
		snprintf(why, why_len, "frame size %u: 2048 or 4096", fs);
	else if (!pow2(rx) || rx < NET_XSK_RING_MIN || rx > NET_XSK_RING_MAX)
		snprintf(why, why_len, "RX ring %u: a power of two %u..%u", rx, NET_XSK_RING_MIN,
			 NET_XSK_RING_MAX);
	else if (!pow2(fill) || fill < NET_XSK_RING_MIN || fill > NET_XSK_RING_MAX)
		snprintf(why, why_len, "fill ring %u: a power of two %u..%u", fill, NET_XSK_RING_MIN,
			 NET_XSK_RING_MAX);
	else if (nf < fill || nf > 262144)
		snprintf(why, why_len, "UMEM frames %u: at least the fill ring (%u), at most 262144", nf,
			 fill);
	else
		return 0;
	return -EINVAL;
}

static void release(struct net_xsk *x)
{
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	x->xsk = NULL;
	if (x->umem)
		xsk_umem__delete(x->umem);
	x->umem = NULL;
}

/* One attempt: a fresh UMEM (a failed bind can leave the old one half used)
 * and a socket bound with bind_flags. 0 or -errno. */
static int try_bind(struct net_xsk *x, const struct net_xsk_opts *o, uint32_t rx, uint32_t fill,
		    uint16_t bind_flags)
{
	struct xsk_umem_config uc = {
		.fill_size = fill,
		.comp_size = NET_XSK_RING_MIN,
		.frame_size = x->frame_size,
		.frame_headroom = 0,
	};
	struct xsk_socket_config sc = {
		.rx_size = rx,
		.tx_size = 0,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = bind_flags,
	};
	int err;

	err = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fq, &x->cq, &uc);
	if (err) {
		x->umem = NULL;
		return err < 0 ? err : -err;
	}
	err = xsk_socket__create(&x->xsk, o->ifname, o->queue, x->umem, &x->rx, NULL, &sc);
	if (err) {
		x->xsk = NULL;
		release(x);
		return err < 0 ? err : -err;
	}
	return 0;
}

static void fill_top_up(struct net_xsk *x)
{
	uint32_t idx = 0, n = x->nfree ? xsk_prod_nb_free(&x->fq, x->nfree) : 0;

	if (n > x->nfree)
		n = x->nfree;
	if (!n || xsk_ring_prod__reserve(&x->fq, n, &idx) != n)
		return;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fq, idx + i) = x->free[--x->nfree];
	xsk_ring_prod__submit(&x->fq, n);
}

int net_xsk_open(const struct net_xsk_opts *o, struct net_xsk **out, int *zc_err, int *sg_err)
{
	struct xdp_options xo = { 0 };
	socklen_t len = sizeof(xo);
	uint32_t rx, fill;
	char why[128];
	struct net_xsk *x;
	int err = 0;

	uint16_t sg = o && o->multi_buffer ? XDP_USE_SG : 0;

	*zc_err = 0;
	*sg_err = 0;
	if (!o || !o->ifname || !out)
		return -EINVAL;
	if (net_xsk_check_opts(o, why, sizeof(why)))
		return log_fail(-EINVAL, "AF_XDP: %s", why);
	pthread_once(&print_once, print_install);
	x = calloc(1, sizeof(*x));
	if (!x)
		return log_fail(-ENOMEM, "AF_XDP: out of memory");
	resolve(o, &x->frame_size, &rx, &fill, &x->nframes);
	x->queue = o->queue;
	x->area_len = (size_t)x->nframes * x->frame_size;
	x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	x->free = malloc(x->nframes * sizeof(*x->free));
	if (x->area == MAP_FAILED || !x->free) {
		err = log_fail(-ENOMEM, "AF_XDP: cannot map a UMEM of %zu bytes", x->area_len);
		x->area = x->area == MAP_FAILED ? NULL : x->area;
		goto fail;
	}
	if (!o->no_zerocopy) {
		err = try_bind(x, o, rx, fill, XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP | sg);
		*zc_err = err;
		if (err)
			log_debug("AF_XDP %s queue %u: zero-copy bind refused: %s", o->ifname, o->queue,
				  strerror(-err));
	}
	if ((o->no_zerocopy || err) && sg) {
		err = try_bind(x, o, rx, fill, XDP_COPY | XDP_USE_NEED_WAKEUP | sg);
		*sg_err = err;
		if (err)
			log_debug("AF_XDP %s queue %u: multi-buffer copy bind refused: %s", o->ifname,
				  o->queue, strerror(-err));
		else
			x->sg = true;
	}
	if (!x->sg && (o->no_zerocopy || err)) {
		sg = 0;
		err = try_bind(x, o, rx, fill, XDP_COPY | XDP_USE_NEED_WAKEUP);
		if (err) {
			const char *hint = err == -EPERM ? " (needs CAP_NET_RAW)"
					 : err == -ENOBUFS || err == -ENOMEM ? " (UMEM over RLIMIT_MEMLOCK?)"
					 : err == -EINVAL ? " (no such RX queue?)" : "";

			err = log_fail(err, "AF_XDP %s queue %u: cannot bind a socket: %s%s", o->ifname,
				       o->queue, strerror(-err), hint);
			goto fail;
		}
	}
	x->mode = o->no_zerocopy || *zc_err ? NET_XSK_COPY : NET_XSK_ZEROCOPY;
	if (x->mode == NET_XSK_ZEROCOPY)
		x->sg = sg != 0;
	/* what the kernel says it did, should the flags and the outcome differ */
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_OPTIONS, &xo, &len) == 0)
		x->mode = (xo.flags & XDP_OPTIONS_ZEROCOPY) ? NET_XSK_ZEROCOPY : NET_XSK_COPY;
	for (uint32_t i = 0; i < x->nframes; i++)
		x->free[x->nframes - 1 - i] = (uint64_t)i * x->frame_size;
	x->nfree = x->nframes;
	fill_top_up(x);
	*out = x;
	return 0;
fail:
	net_xsk_close(x);
	return err;
}

enum net_xsk_mode net_xsk_mode(const struct net_xsk *x)
{
	return x ? x->mode : NET_XSK_OFF;
}

int net_xsk_fd(const struct net_xsk *x)
{
	return x && x->xsk ? xsk_socket__fd(x->xsk) : -EINVAL;
}

uint32_t net_xsk_queue(const struct net_xsk *x)
{
	return x->queue;
}

bool net_xsk_multi_buffer(const struct net_xsk *x)
{
	return x && x->sg;
}

int net_xsk_kernel_stats(const struct net_xsk *x, struct net_xsk_kstats *out)
{
	struct xdp_statistics s;
	socklen_t len = sizeof(s);

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if (!x || !x->xsk)
		return -EINVAL;
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, &s, &len))
		return -errno;
	out->rx_dropped = s.rx_dropped;
	out->rx_invalid_descs = s.rx_invalid_descs;
	out->rx_ring_full = s.rx_ring_full;
	out->rx_fill_ring_empty_descs = s.rx_fill_ring_empty_descs;
	out->tx_invalid_descs = s.tx_invalid_descs;
	return 0;
}

void net_xsk_close(struct net_xsk *x)
{
	if (!x)
		return;
	release(x);
	if (x->area)
		munmap(x->area, x->area_len);
	free(x->free);
	free(x);
}

/* ---- frames --------------------------------------------------------------------- */

#define IP_MF     0x2000
#define IP_OFFSET 0x1fff

static uint16_t rd16be(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool ip_csum_ok(const uint8_t *ip, size_t hlen)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < hlen; i += 2)
		sum += rd16be(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* The UDP payload of an IPv4 frame to port (host order), its source and
 * destination (network order). false for anything else. */
static bool parse_frame(const uint8_t *f, size_t len, uint16_t port, const uint8_t **payload,
			size_t *plen, struct sockaddr_in *src, uint32_t *dst_ip)
{
	size_t l3 = ETH_HLEN, ihl, tot, ulen;
	uint16_t proto;
	const uint8_t *ip, *udp;

	if (len < ETH_HLEN)
		return false;
	proto = rd16be(f + 12);
	for (int tags = 0; tags < 2 && (proto == ETH_P_8021Q || proto == ETH_P_8021AD); tags++) {
		if (len < l3 + 4)
			return false;
		proto = rd16be(f + l3 + 2);
		l3 += 4;
	}
	if (proto != ETH_P_IP || len < l3 + 20)
		return false;
	ip = f + l3;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = rd16be(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != IPPROTO_UDP || tot < ihl + 8 || tot > len - l3 ||
	    (rd16be(ip + 6) & (IP_MF | IP_OFFSET)) || !ip_csum_ok(ip, ihl))
		return false;
	udp = ip + ihl;
	ulen = rd16be(udp + 4);
	if (rd16be(udp + 2) != port || ulen < 8 || ulen > tot - ihl)
		return false;
	memset(src, 0, sizeof(*src));
	src->sin_family = AF_INET;
	memcpy(&src->sin_addr.s_addr, ip + 12, 4);
	memcpy(&src->sin_port, udp, 2);
	memcpy(dst_ip, ip + 16, 4);
	*payload = udp + 8;
	*plen = ulen - 8;
	return true;
}

/* ---- the loop --------------------------------------------------------------------- */

#define CTRL_LEN CMSG_SPACE(sizeof(struct in_pktinfo))
union ctrl {
	struct cmsghdr h;
	uint8_t b[CTRL_LEN];
};

struct xloop {
	unsigned batch;
	size_t reply_cap;
	struct mmsghdr *tx;
	struct iovec *iov;
	struct sockaddr_in6 *to;        /* room for either family */
	union ctrl *ctrl;
	uint8_t *buf;
	int family;                     /* of the reply socket */
	uint32_t bound_ip;              /* its IPv4 address (network order), 0 = any */
	bool v6_any;                    /* [::]: answer v4-mapped */
	bool usable;                    /* can answer IPv4 at all */
	unsigned out;                   /* replies queued in this batch */
	size_t asm_len;                 /* multi-buffer frame being reassembled */
	bool asm_bad;                   /* ... too long or bad: drop it at its end */
	uint8_t reasm[65536 + 128];
};

static void xloop_free(struct xloop *l)
{
	free(l->tx);
	free(l->iov);
	free(l->to);
	free(l->ctrl);
	free(l->buf);
}

static int xloop_init(struct xloop *l, const struct net_xsk_loop_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(l, 0, sizeof(*l));
	l->batch = o->batch ? o->batch : 64;
	l->reply_cap = o->reply_cap ? o->reply_cap : 2048;
	if (getsockname(o->reply_fd, (struct sockaddr *)&ss, &sl))
		return log_fail(-errno, "AF_XDP: reply socket: %s", strerror(errno));
	l->family = ss.ss_family;
	if (ss.ss_family == AF_INET) {
		l->bound_ip = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		l->usable = true;
	} else if (ss.ss_family == AF_INET6) {
		int v6only = 0;
		socklen_t ol = sizeof(v6only);

		/* [::] answers IPv4 as v4-mapped, unless it is IPv6-only */
		l->v6_any = IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
		if (getsockopt(o->reply_fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol))
			v6only = 1;
		l->usable = l->v6_any && !v6only;
	}
	if (!l->usable)
		log_warn("AF_XDP: the reply socket cannot answer IPv4; redirected frames are dropped");
	l->tx = calloc(l->batch, sizeof(*l->tx));
	l->iov = calloc(l->batch, sizeof(*l->iov));
	l->to = calloc(l->batch, sizeof(*l->to));
	l->ctrl = calloc(l->batch, sizeof(*l->ctrl));
	l->buf = malloc(l->batch * l->reply_cap);
	if (!l->tx || !l->iov || !l->to || !l->ctrl || !l->buf) {
		xloop_free(l);
		return log_fail(-ENOMEM, "AF_XDP: out of memory for %u replies", l->batch);
	}
	return 0;
}

/* Reply slot i to src, from dst_ip (through IP_PKTINFO when the socket is
 * bound to any address, so the source is the address the query was sent to). */
static void xloop_address(struct xloop *l, unsigned i, const struct sockaddr_in *src, uint32_t dst_ip)
{
	struct msghdr *m = &l->tx[i].msg_hdr;

	memset(m, 0, sizeof(*m));
	if (l->family == AF_INET) {
		memcpy(&l->to[i], src, sizeof(*src));
		m->msg_namelen = sizeof(*src);
		if (!l->bound_ip) {
			struct cmsghdr *c = &l->ctrl[i].h;
			struct in_pktinfo pi = { .ipi_spec_dst.s_addr = dst_ip };

			memset(c, 0, CTRL_LEN);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			m->msg_control = c;
			m->msg_controllen = CTRL_LEN;
		}
	} else {
		struct sockaddr_in6 *s6 = &l->to[i];

		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = src->sin_port;
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], &src->sin_addr.s_addr, 4);
		m->msg_namelen = sizeof(*s6);
	}
	m->msg_name = &l->to[i];
	l->iov[i].iov_base = l->buf + (size_t)i * l->reply_cap;
	m->msg_iov = &l->iov[i];
	m->msg_iovlen = 1;
}

/* Take up to batch frames off the RX ring, handle and answer them, recycle
 * them. Returns frames taken. */
/* One whole frame (in the UMEM, or reassembled): parsed, handled, its
 * reply queued in slot l->out. false when it was not for us. */
static bool handle_frame(const struct net_xsk_loop_opts *o, struct xloop *l, const uint8_t *f,
			 size_t len, bool draining, struct net_xsk_loop_stats *st)
{
	const uint8_t *payload;
	struct sockaddr_in src;
	struct net_dgram dg;
	uint32_t dst_ip;
	size_t plen, r;

	if (!l->usable || !parse_frame(f, len, o->port, &payload, &plen, &src, &dst_ip) ||
	    (l->bound_ip && l->bound_ip != dst_ip))
		return false;
	dg = (struct net_dgram){ .data = payload, .len = plen, .avail = plen,
				 .src = (const struct sockaddr *)&src, .src_len = sizeof(src) };
	net_bump(&st->datagrams, 1);
	xloop_address(l, l->out, &src, dst_ip);
	r = o->fn(o->ctx, &dg, draining, l->iov[l->out].iov_base, l->reply_cap);
	if (r) {
		l->iov[l->out].iov_len = r;
		l->out++;
	}
	return true;
}

/* Take up to batch descriptors off the RX ring, handle and answer their
 * frames, recycle them. A multi-buffer frame (XDP_USE_SG) is a run of
 * descriptors with XDP_PKT_CONTD on all but the last; its pieces are copied
 * into l->reasm (a run may span two calls) and the frame handled at its last
 * piece. Returns descriptors taken. */
static unsigned rx_batch(const struct net_xsk_loop_opts *o, struct xloop *l, bool draining,
			 struct net_xsk_loop_stats *st)
{
	struct net_xsk *x = o->x;
	uint32_t idx = 0, n = xsk_ring_cons__peek(&x->rx, l->batch, &idx);
	unsigned bad = 0;

	l->out = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
		bool in_umem = d->addr + d->len <= x->area_len;
		const uint8_t *f = in_umem ? xsk_umem__get_data(x->area, d->addr) : NULL;

		if ((d->options & XDP_PKT_CONTD) || l->asm_len || l->asm_bad) {
			if (!in_umem || l->asm_len + d->len > sizeof(l->reasm)) {
				l->asm_bad = true;
			} else {
				memcpy(l->reasm + l->asm_len, f, d->len);
				l->asm_len += d->len;
			}
			if (!(d->options & XDP_PKT_CONTD)) {
				if (l->asm_bad || !handle_frame(o, l, l->reasm, l->asm_len, draining, st))
					bad++;
				else
					net_bump(&st->multi_buffer, 1);
				l->asm_len = 0;
				l->asm_bad = false;
			}
		} else if (!in_umem || !handle_frame(o, l, f, d->len, draining, st)) {
			bad++;
		}
		/* aligned mode: the frame's base, whatever offset the data had */
		x->free[x->nfree++] = d->addr - d->addr % x->frame_size;
	}
	if (n) {
		xsk_ring_cons__release(&x->rx, n);
		net_bump(&st->frames, n);
	}
	if (bad)
		net_bump(&st->not_parsed, bad);
	if (l->out)
		net_send_all(o->reply_fd, l->tx, l->out, &st->sent, &st->send_errors);
	fill_top_up(x);
	return n;
}

int net_xsk_loop_run(const struct net_xsk_loop_opts *o, struct net_xsk_loop_stats *st)
{
	struct xloop l;
	struct pollfd p[2];
	int err;

	if (!o || !o->x || !o->fn || o->reply_fd < 0 || o->stop_fd < 0)
		return -EINVAL;
	err = xloop_init(&l, o);
	if (err)
		return err;
	p[0] = (struct pollfd){ .fd = net_xsk_fd(o->x), .events = POLLIN };
	p[1] = (struct pollfd){ .fd = o->stop_fd, .events = POLLIN };
	for (;;) {
		if (rx_batch(o, &l, false, st))
			continue;
		if (xsk_ring_prod__needs_wakeup(&o->x->fq)) {
			/* a zero-copy driver waits to be told the fill ring has frames */
			recvfrom(p[0].fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			net_bump(&st->wakeups, 1);
		}
		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			err = log_fail(-errno, "AF_XDP: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents & POLLIN) {
			/* stop: answer what the ring still holds, then leave */
			for (unsigned drained = 0; drained < 65536;) {
				unsigned n = rx_batch(o, &l, true, st);

				if (!n)
					break;
				drained += n;
			}
			break;
		}
	}
	xloop_free(&l);
	return err;
}
