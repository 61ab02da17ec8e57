/*
 * net/loop.c - the datagram loop of one worker: io_uring (multishot recvmsg
 * from a provided buffer ring, sendmsg replies) or syscalls (poll, recvmmsg,
 * sendmmsg). See net.h for the contract.
 *
 * io_uring loop, one iteration:
 *
 *   submit_and_wait(1)  ->  for each CQE:
 *      RECV  a datagram in provided buffer bid: handler -> reply into a free
 *            send slot -> sendmsg SQE; buffer bid goes back to the ring.
 *            No IORING_CQE_F_MORE: the multishot ended (-ENOBUFS when the
 *            ring ran dry, or any error): re-arm after this batch.
 *      SEND  slot free again
 *      STOP  the stop eventfd fired: cancel the recv, let sends finish,
 *            then drain what is still queued through syscalls, return.
 *   advance the CQ and the buffer ring once per batch.
 *
 * Invariants: a provided buffer is back in the ring before the iteration
 * ends (the handler copies its reply into a send slot, never pointing into
 * the receive buffer); a send slot's buffer, iovec and address live until
 * its CQE; the ring is plain (no SQPOLL, no SINGLE_ISSUER|DEFER_TASKRUN:
 * one thread issues and reaps, but DEFER_TASKRUN starves completions of
 * sends made before waiting, see shared/reference/ebpf-iouring.md 2.8).
 *
 * When no send slot is free (more replies in flight than slots), the reply
 * goes out with a plain sendto so nothing is dropped for want of a slot.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "net/net.h"

#define CTRL_LEN   CMSG_SPACE(sizeof(struct timespec))
#define NAME_LEN   ((socklen_t)sizeof(struct sockaddr_storage))

#define TAG_RECV   1ull
#define TAG_STOP   2ull
#define TAG_CANCEL 3ull
#define TAG_SEND   4ull
#define TAG_SHIFT  56

static uint64_t cmsg_rx_ns(struct msghdr *m, struct cmsghdr *c)
{
	for (; c; c = CMSG_NXTHDR(m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		}
	return 0;
}

/* ---- syscall transport ---------------------------------------------------- */

struct sys_loop {
	unsigned batch;
	size_t max_dgram, reply_cap;
	struct mmsghdr *rx, *tx;
	struct iovec *rx_iov, *tx_iov;
	struct sockaddr_storage *names;
	uint8_t *ctrl, *rx_buf, *tx_buf;
};

static void sys_release(struct sys_loop *s)
{
	free(s->rx);
	free(s->tx);
	free(s->rx_iov);
	free(s->tx_iov);
	free(s->names);
	free(s->ctrl);
	free(s->rx_buf);
	free(s->tx_buf);
	memset(s, 0, sizeof(*s));
}

static int sys_init(struct sys_loop *s, const struct net_loop_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->batch = o->batch;
	s->max_dgram = o->max_dgram;
	s->reply_cap = o->reply_cap;
	s->rx = calloc(s->batch, sizeof(*s->rx));
	s->tx = calloc(s->batch, sizeof(*s->tx));
	s->rx_iov = calloc(s->batch, sizeof(*s->rx_iov));
	s->tx_iov = calloc(s->batch, sizeof(*s->tx_iov));
	s->names = calloc(s->batch, sizeof(*s->names));
	s->ctrl = calloc(s->batch, CTRL_LEN);
	s->rx_buf = malloc(s->batch * s->max_dgram);
	s->tx_buf = malloc(s->batch * s->reply_cap);
	if (!s->rx || !s->tx || !s->rx_iov || !s->tx_iov || !s->names || !s->ctrl || !s->rx_buf ||
	    !s->tx_buf) {
		sys_release(s);
		return log_fail(-ENOMEM, "net: out of memory for %u receive buffers", o->batch);
	}
	return 0;
}

void net_send_all(int fd, struct mmsghdr *tx, unsigned n, uint64_t *sent, uint64_t *errors)
{
	unsigned done = 0;

	while (done < n) {
		int r = sendmmsg(fd, tx + done, n - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			net_bump(errors, 1);
			done++;
			continue;
		}
		net_bump(sent, (uint64_t)r);
		done += (unsigned)r;
	}
}

/* One recvmmsg batch, handled and answered. Returns datagrams read (0 when
 * none was queued) or -errno. */
static int sys_batch(const struct net_loop_opts *o, struct sys_loop *s, struct net_loop_stats *st,
		     bool draining, unsigned max)
{
	unsigned m = 0;
	int n;

	if (max > s->batch)
		max = s->batch;
	for (unsigned i = 0; i < max; i++) {
		s->rx_iov[i] = (struct iovec){ s->rx_buf + i * s->max_dgram, s->max_dgram };
		s->rx[i].msg_hdr = (struct msghdr){
			.msg_name = &s->names[i], .msg_namelen = NAME_LEN,
			.msg_iov = &s->rx_iov[i], .msg_iovlen = 1,
			.msg_control = s->ctrl + i * CTRL_LEN, .msg_controllen = CTRL_LEN,
		};
	}
	/* MSG_TRUNC: msg_len is the datagram's real length even when it did
	 * not fit, so an overlong datagram is seen as one. */
	n = recvmmsg(o->fd, s->rx, max, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	net_bump(&st->received, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		struct msghdr *mh = &s->rx[i].msg_hdr;
		struct net_dgram d = {
			.data = s->rx_buf + (size_t)i * s->max_dgram,
			.len = s->rx[i].msg_len,
			.src = (const struct sockaddr *)&s->names[i],
			.src_len = mh->msg_namelen,
			.rx_ns = cmsg_rx_ns(mh, CMSG_FIRSTHDR(mh)),
		};
		uint8_t *rep = s->tx_buf + m * s->reply_cap;
		size_t rl;

		d.avail = d.len < s->max_dgram ? d.len : s->max_dgram;
		rl = o->fn(o->ctx, &d, draining, rep, s->reply_cap);
		if (!rl)
			continue;
		s->tx_iov[m] = (struct iovec){ rep, rl };
		s->tx[m].msg_hdr = (struct msghdr){
			.msg_name = &s->names[i], .msg_namelen = mh->msg_namelen,
			.msg_iov = &s->tx_iov[m], .msg_iovlen = 1,
		};
		m++;
	}
	if (m)
		net_send_all(o->fd, s->tx, m, &st->sent, &st->send_errors);
	return n;
}

/* Answer what is still queued after stop, at most drain_max datagrams. */
static int sys_drain(const struct net_loop_opts *o, struct sys_loop *s, struct net_loop_stats *st)
{
	unsigned left = o->drain_max;

	while (left) {
		int n = sys_batch(o, s, st, true, left);

		if (n <= 0)
			return n;
		net_bump(&st->drained, (uint64_t)n);
		left -= (unsigned)n;
	}
	return 0;
}

static int sys_run(const struct net_loop_opts *o, struct net_loop_stats *st)
{
	struct sys_loop s;
	int rc = sys_init(&s, o);

	if (rc)
		return rc;
	for (;;) {
		struct pollfd p[2] = { { .fd = o->fd, .events = POLLIN }, { .fd = o->stop_fd, .events = POLLIN } };
		int n = poll(p, 2, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = log_fail(-errno, "net: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents) {
			rc = sys_drain(o, &s, st);
			break;
		}
		/* keep reading while full batches come in, then poll again */
		do {
			n = sys_batch(o, &s, st, false, s.batch);
		} while (n == (int)s.batch);
		if (n < 0) {
			rc = log_fail(n, "net: recvmmsg: %s", strerror(-n));
			break;
		}
	}
	sys_release(&s);
	return rc;
}

/* ---- io_uring transport --------------------------------------------------- */

struct uring_loop {
	struct io_uring ring;
	bool ring_ok;
	struct io_uring_buf_ring *br;
	size_t br_len;
	unsigned nbuf;
	size_t bufsz;
	uint8_t *bufs;
	struct msghdr tmpl;
	/* send slots */
	unsigned nslots, nfree;
	size_t slot_stride;
	unsigned *free_slots;
	uint8_t *slot_buf;
	struct msghdr *slot_msg;
	struct iovec *slot_iov;
	struct sockaddr_storage *slot_name;
};

static void uring_release(struct uring_loop *u)
{
	if (u->ring_ok) {
		if (u->br)
			io_uring_unregister_buf_ring(&u->ring, 0);
		io_uring_queue_exit(&u->ring);
	}
	if (u->br)
		munmap(u->br, u->br_len);
	free(u->bufs);
	free(u->free_slots);
	free(u->slot_buf);
	free(u->slot_msg);
	free(u->slot_iov);
	free(u->slot_name);
	memset(u, 0, sizeof(*u));
}

/* A ring with a provided buffer ring of nbuf buffers of bufsz bytes
 * (group 0). Fills why on failure. */
static int uring_setup(struct uring_loop *u, unsigned nbuf, size_t bufsz, char *why, size_t why_len)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 4096 };
	struct io_uring_buf_reg reg = { 0 };
	int rc;

	rc = io_uring_queue_init_params(256, &u->ring, &p);
	if (rc) {
		snprintf(why, why_len, "io_uring_setup: %s", strerror(-rc));
		return rc;
	}
	u->ring_ok = true;
	u->nbuf = nbuf;
	u->bufsz = bufsz;
	u->br_len = nbuf * sizeof(struct io_uring_buf);
	u->br = mmap(NULL, u->br_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (u->br == MAP_FAILED) {
		u->br = NULL;
		snprintf(why, why_len, "mmap of the buffer ring: %s", strerror(errno));
		return -ENOMEM;
	}
	io_uring_buf_ring_init(u->br);
	reg.ring_addr = (uint64_t)(uintptr_t)u->br;
	reg.ring_entries = nbuf;
	reg.bgid = 0;
	rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc) {
		munmap(u->br, u->br_len);
		u->br = NULL;
		snprintf(why, why_len, "io_uring_register_buf_ring: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int net_uring_probe(char *why, size_t why_len)
{
	struct uring_loop u;
	struct io_uring_probe *pr;
	int rc;

	memset(&u, 0, sizeof(u));
	rc = uring_setup(&u, 8, 4096, why, why_len);
	if (rc)
		goto out;
	pr = io_uring_get_probe_ring(&u.ring);
	if (!pr) {
		snprintf(why, why_len, "io_uring opcode probe failed");
		rc = -ENOTSUP;
		goto out;
	}
	if (!io_uring_opcode_supported(pr, IORING_OP_RECVMSG) ||
	    !io_uring_opcode_supported(pr, IORING_OP_SENDMSG) ||
	    !io_uring_opcode_supported(pr, IORING_OP_POLL_ADD) ||
	    !io_uring_opcode_supported(pr, IORING_OP_ASYNC_CANCEL)) {
		snprintf(why, why_len, "the kernel's io_uring lacks recvmsg/sendmsg/poll/cancel");
		rc = -ENOTSUP;
	}
	io_uring_free_probe(pr);
out:
	uring_release(&u);
	return rc;
}

static struct io_uring_sqe *get_sqe(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (!sqe) {
		io_uring_submit(r);
		sqe = io_uring_get_sqe(r);
	}
	return sqe;
}

static int arm_recv(struct uring_loop *u, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(&u->ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, fd, &u->tmpl, MSG_TRUNC);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, TAG_RECV << TAG_SHIFT);
	return 0;
}

static void queue_reply(struct uring_loop *u, int fd, const struct net_dgram *d, const uint8_t *rep,
			size_t rl, struct net_loop_stats *st)
{
	struct io_uring_sqe *sqe;
	unsigned slot;

	if (rl > u->slot_stride || !u->nfree || !(sqe = get_sqe(&u->ring))) {
		if (sendto(fd, rep, rl, 0, d->src, d->src_len) < 0)
			net_bump(&st->send_errors, 1);
		else
			net_bump(&st->sent, 1);
		return;
	}
	slot = u->free_slots[--u->nfree];
	memcpy(&u->slot_name[slot], d->src, d->src_len);
	memcpy(u->slot_buf + slot * u->slot_stride, rep, rl);
	u->slot_iov[slot] = (struct iovec){ u->slot_buf + slot * u->slot_stride, rl };
	u->slot_msg[slot] = (struct msghdr){
		.msg_name = &u->slot_name[slot], .msg_namelen = d->src_len,
		.msg_iov = &u->slot_iov[slot], .msg_iovlen = 1,
	};
	io_uring_prep_sendmsg(sqe, fd, &u->slot_msg[slot], 0);
	io_uring_sqe_set_data64(sqe, TAG_SEND << TAG_SHIFT | slot);
}

/* Runs the io_uring loop. Returns 0 after a clean stop (drain included),
 * 1 when the ring failed at run time (the caller continues with syscalls;
 * the reason is logged), -errno on a setup failure. */
static int uring_run(const struct net_loop_opts *o, struct net_loop_stats *st)
{
	struct uring_loop u;
	char why[160] = "";
	uint8_t *rep = NULL;
	unsigned nbuf = 256;
	size_t bufsz;
	bool stopping = false, recv_live = false, rearm = false;
	int rc;

	memset(&u, 0, sizeof(u));
	bufsz = sizeof(struct io_uring_recvmsg_out) + NAME_LEN + CTRL_LEN + o->max_dgram;
	bufsz = (bufsz + 63) & ~(size_t)63;
	while (nbuf > 16 && nbuf * bufsz > (8u << 20))
		nbuf /= 2;
	rc = uring_setup(&u, nbuf, bufsz, why, sizeof(why));
	if (rc) {
		log_warn("net: io_uring unavailable (%s); using recvmmsg/sendmmsg", why);
		uring_release(&u);
		return 1;
	}
	u.nslots = 2 * nbuf;
	/* slots hold query replies (<= 1224 bytes); a bigger reply (stats)
	 * goes out with sendto */
	u.slot_stride = o->reply_cap < 2048 ? (o->reply_cap + 63) & ~(size_t)63 : 2048;
	u.bufs = aligned_alloc(64, nbuf * bufsz);
	u.free_slots = malloc(u.nslots * sizeof(*u.free_slots));
	u.slot_buf = malloc(u.nslots * u.slot_stride);
	u.slot_msg = calloc(u.nslots, sizeof(*u.slot_msg));
	u.slot_iov = calloc(u.nslots, sizeof(*u.slot_iov));
	u.slot_name = calloc(u.nslots, sizeof(*u.slot_name));
	rep = malloc(o->reply_cap);
	if (!u.bufs || !u.free_slots || !u.slot_buf || !u.slot_msg || !u.slot_iov || !u.slot_name || !rep) {
		rc = log_fail(-ENOMEM, "net: out of memory for the io_uring buffers");
		goto out;
	}
	for (unsigned i = 0; i < u.nslots; i++)
		u.free_slots[i] = u.nslots - 1 - i;
	u.nfree = u.nslots;
	for (unsigned i = 0; i < nbuf; i++)
		io_uring_buf_ring_add(u.br, u.bufs + i * bufsz, (unsigned)bufsz, (unsigned short)i,
				      io_uring_buf_ring_mask(nbuf), (int)i);
	io_uring_buf_ring_advance(u.br, (int)nbuf);
	u.tmpl.msg_namelen = NAME_LEN;
	u.tmpl.msg_controllen = CTRL_LEN;

	{
		struct io_uring_sqe *sqe = get_sqe(&u.ring);

		io_uring_prep_poll_add(sqe, o->stop_fd, POLLIN);
		io_uring_sqe_set_data64(sqe, TAG_STOP << TAG_SHIFT);
	}
	if (arm_recv(&u, o->fd)) {
		rc = log_fail(-EBUSY, "net: no SQE for the receive");
		goto out;
	}
	recv_live = true;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, returned = 0;

		if (stopping && !recv_live && u.nfree == u.nslots)
			break;
		rc = io_uring_submit_and_wait(&u.ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			log_warn("net: io_uring_enter failed (%s); continuing with recvmmsg/sendmmsg",
				 strerror(-rc));
			rc = 1;
			goto out;
		}
		io_uring_for_each_cqe(&u.ring, head, cqe) {
			uint64_t tag = cqe->user_data >> TAG_SHIFT;

			seen++;
			if (tag == TAG_SEND) {
				u.free_slots[u.nfree++] = (unsigned)(cqe->user_data & 0xffffffffu);
				if (cqe->res < 0)
					net_bump(&st->send_errors, 1);
				else
					net_bump(&st->sent, 1);
				continue;
			}
			if (tag == TAG_STOP) {
				struct io_uring_sqe *sqe;

				stopping = true;
				if (recv_live && (sqe = get_sqe(&u.ring))) {
					io_uring_prep_cancel64(sqe, TAG_RECV << TAG_SHIFT, 0);
					io_uring_sqe_set_data64(sqe, TAG_CANCEL << TAG_SHIFT);
				}
				continue;
			}
			if (tag != TAG_RECV)
				continue;
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				recv_live = false;
				rearm = !stopping;
			}
			if (cqe->flags & IORING_CQE_F_BUFFER) {
				unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
				uint8_t *buf = u.bufs + (size_t)bid * bufsz;
				struct io_uring_recvmsg_out *out =
					cqe->res > 0 ? io_uring_recvmsg_validate(buf, cqe->res, &u.tmpl) : NULL;

				if (out) {
					struct net_dgram d = {
						.data = io_uring_recvmsg_payload(out, &u.tmpl),
						.len = out->payloadlen,
						.avail = io_uring_recvmsg_payload_length(out, cqe->res, &u.tmpl),
						.src = io_uring_recvmsg_name(out),
						.src_len = out->namelen < NAME_LEN ? out->namelen : NAME_LEN,
						.rx_ns = cmsg_rx_ns(&u.tmpl, io_uring_recvmsg_cmsg_firsthdr(out, &u.tmpl)),
					};
					size_t rl;

					net_bump(&st->received, 1);
					rl = o->fn(o->ctx, &d, stopping, rep, o->reply_cap);
					if (rl)
						queue_reply(&u, o->fd, &d, rep, rl, st);
				}
				io_uring_buf_ring_add(u.br, buf, (unsigned)bufsz, (unsigned short)bid,
						      io_uring_buf_ring_mask(nbuf), (int)returned++);
			} else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED &&
				   cqe->res != -EINTR) {
				if (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP) {
					/* this kernel's recvmsg has no multishot */
					log_warn("net: multishot recvmsg refused (%s); continuing with "
						 "recvmmsg/sendmmsg", strerror(-cqe->res));
					io_uring_cq_advance(&u.ring, seen);
					rc = 1;
					goto out;
				}
				log_warn("net: io_uring recvmsg: %s (re-armed)", strerror(-cqe->res));
			}
		}
		io_uring_cq_advance(&u.ring, seen);
		if (returned)
			io_uring_buf_ring_advance(u.br, (int)returned);
		/* never re-arm once stopping: the cancel went out already (or
		 * was not needed), so a new receive would keep the loop alive */
		if (rearm && !stopping) {
			rearm = false;
			if (arm_recv(&u, o->fd) == 0) {
				recv_live = true;
				net_bump(&st->rearms, 1);
			}
		}
	}
	rc = 0;
out:
	uring_release(&u);
	free(rep);
	if (rc == 0) {
		struct sys_loop s;

		rc = sys_init(&s, o);
		if (!rc) {
			rc = sys_drain(o, &s, st);
			sys_release(&s);
		}
	}
	return rc;
}

int net_loop_run(const struct net_loop_opts *o0, struct net_loop_stats *st)
{
	struct net_loop_opts o = *o0;
	int one = 1, rc;

	if (!o.max_dgram)
		o.max_dgram = 65536;
	if (!o.reply_cap)
		o.reply_cap = 2048;
	if (!o.batch)
		o.batch = 64;
	if (!o.drain_max)
		o.drain_max = 4096;
	/* kernel receive timestamps: the handler sees how long a query queued */
	if (setsockopt(o.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)))
		log_warn("net: SO_TIMESTAMPNS: %s (queueing time unknown)", strerror(errno));
	if (o.io == NET_IO_URING) {
		rc = uring_run(&o, st);
		if (rc <= 0)
			return rc;
		net_bump(&st->fallbacks, 1);
	}
	return sys_run(&o, st);
}
