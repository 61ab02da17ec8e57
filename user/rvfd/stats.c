/*
 * rvfd/stats.c - the daemon's counters and the JSON a stats request gets.
 *
 * Each worker owns a struct rvfd_counters and is its only writer (relaxed
 * atomic stores, so no lock and no shared cache line on the query path);
 * a stats reply sums them all with relaxed loads, so totals are each exact
 * for the moment they were read, not one global instant.
 *
 * JSON (one object, keys stable; a client in any language can read it):
 *   instance, version, uptime_s, io, io_fallback, filter_level, filter_note,
 *   threads, datagrams, queries, stats_requests,
 *   replies {ok, bad_request, not_member, overloaded, shutting_down, internal},
 *   user {passed, bad_magic, ...}   the userspace validator's verdicts
 *   kernel {xdp {...} or null when not attached, sock {...}} or null below
 *          eBPF  (struct rvf_wire_counters, summed over CPUs)
 *   latency_us {p50, p99, p999, buckets [[upper_us, count], ...]}
 *   io_stats {received, sent, send_errors, rearms, drained, fallbacks}
 *   afxdp null without --xdp-mode afxdp, else {mode ("zerocopy", "copy" or
 *         "udp" when it fell back), note, sockets, zerocopy_refused,
 *         fallbacks, frames, datagrams, not_parsed, sent, send_errors,
 *         wakeups, multi_buffer_sockets, multi_buffer_frames, xdp_statistics {rx_dropped, rx_invalid_descs,
 *         rx_ring_full, rx_fill_ring_empty_descs, tx_invalid_descs}}
 * *   namespaces [{ns, path, dim, live, epoch, refreshes}], request_id (a decimal string)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "rvfd/rvfd.h"

void counters_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

void counters_latency(struct rvfd_counters *c, uint64_t us)
{
	unsigned b = us ? 64u - (unsigned)__builtin_clzll(us) : 0;   /* us < 2^b */

	if (b >= RVFD_LAT_BUCKETS)
		b = RVFD_LAT_BUCKETS - 1;
	counters_add(&c->lat[b], 1);
}

const char *filter_level_name(enum rvfd_filter_level l)
{
	return l == RVFD_FILTER_EBPF ? "ebpf" : l == RVFD_FILTER_CBPF ? "cbpf" : "none";
}

struct jbuf {
	char *p;
	size_t cap, len;
	bool overflow;
};

__attribute__((format(printf, 2, 3)))
static void jp(struct jbuf *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->p + j->len, j->cap - j->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= j->cap - j->len)
		j->overflow = true;
	else
		j->len += (size_t)n;
}

static void jstr(struct jbuf *j, const char *s)
{
	jp(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jp(j, "\\%c", c);
		else if (c < 0x20)
			jp(j, "\\u%04x", c);
		else
			jp(j, "%c", c);
	}
	jp(j, "\"");
}

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void jcounters(struct jbuf *j, const struct rvf_wire_counters *c)
{
	jp(j, "{\"passed\":%llu,\"bad_magic\":%llu,\"bad_version\":%llu,\"bad_header\":%llu,"
	   "\"bad_dim\":%llu,\"bad_length\":%llu,\"bad_k\":%llu,\"not_member\":%llu,"
	   "\"truncated\":%llu,\"nonfinite\":%llu,\"other_passed\":%llu,\"fragments\":%llu,"
	   "\"redirected\":%llu}",
	   (unsigned long long)c->passed, (unsigned long long)c->bad_magic,
	   (unsigned long long)c->bad_version, (unsigned long long)c->bad_header,
	   (unsigned long long)c->bad_dim, (unsigned long long)c->bad_length,
	   (unsigned long long)c->bad_k, (unsigned long long)c->not_member,
	   (unsigned long long)c->truncated, (unsigned long long)c->nonfinite,
	   (unsigned long long)c->other_passed, (unsigned long long)c->fragments,
	   (unsigned long long)c->redirected);
}

/* Upper bound (us) of the bucket where the cumulative count reaches q. */
static uint64_t percentile(const uint64_t *lat, uint64_t total, double q)
{
	uint64_t want = (uint64_t)((double)total * q + 0.999999), seen = 0;

	if (!total)
		return 0;
	for (unsigned b = 0; b < RVFD_LAT_BUCKETS; b++) {
		seen += lat[b];
		if (seen >= want)
			return 1ull << b;
	}
	return 1ull << (RVFD_LAT_BUCKETS - 1);
}

static uint64_t rd(const uint64_t *p);

void stats_user_counters(struct rvfd *d, struct rvf_wire_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned t = 0; t < rvfd_nworkers(d); t++)
		for (int r = 0; r < RVF_WIRE_R_NREASONS; r++)
			*rvf_wire_counter_field(out, r) += rd(&rvfd_worker_at(d, t)->c.reason[r]);
}

static void jafxdp(struct jbuf *j, struct rvfd *d)
{
	struct net_xsk_loop_stats x = { 0 };
	struct net_xsk_kstats k = { 0 }, one;

	if (!d->afxdp_wanted) {
		jp(j, "null");
		return;
	}
	for (unsigned i = 0; i < d->n_xworkers; i++) {
		struct rvfd_worker *w = &d->xworkers[i];

		x.frames += rd(&w->xio.frames);
		x.datagrams += rd(&w->xio.datagrams);
		x.not_parsed += rd(&w->xio.not_parsed);
		x.sent += rd(&w->xio.sent);
		x.send_errors += rd(&w->xio.send_errors);
		x.wakeups += rd(&w->xio.wakeups);
		x.multi_buffer += rd(&w->xio.multi_buffer);
		if (w->xsk && net_xsk_kernel_stats(w->xsk, &one) == 0) {
			k.rx_dropped += one.rx_dropped;
			k.rx_invalid_descs += one.rx_invalid_descs;
			k.rx_ring_full += one.rx_ring_full;
			k.rx_fill_ring_empty_descs += one.rx_fill_ring_empty_descs;
			k.tx_invalid_descs += one.tx_invalid_descs;
		}
	}
	jp(j, "{\"mode\":\"%s\",\"note\":", d->xsk_mode ? net_xsk_mode_name(d->xsk_mode) : "udp");
	jstr(j, d->xsk_why);
	jp(j, ",\"sockets\":%u,\"zerocopy_refused\":%llu,\"fallbacks\":%llu,\"frames\":%llu,"
	   "\"datagrams\":%llu,\"not_parsed\":%llu,\"sent\":%llu,\"send_errors\":%llu,"
	   "\"wakeups\":%llu,\"multi_buffer_sockets\":%u,\"multi_buffer_frames\":%llu,"
	   "\"xdp_statistics\":{\"rx_dropped\":%llu,\"rx_invalid_descs\":%llu,"
	   "\"rx_ring_full\":%llu,\"rx_fill_ring_empty_descs\":%llu,\"tx_invalid_descs\":%llu}}",
	   d->n_xworkers, (unsigned long long)d->xsk_zc_refused, (unsigned long long)d->xsk_fallbacks,
	   (unsigned long long)x.frames, (unsigned long long)x.datagrams,
	   (unsigned long long)x.not_parsed, (unsigned long long)x.sent,
	   (unsigned long long)x.send_errors, (unsigned long long)x.wakeups, d->xsk_multi_buffer,
	   (unsigned long long)x.multi_buffer,
	   (unsigned long long)k.rx_dropped, (unsigned long long)k.rx_invalid_descs,
	   (unsigned long long)k.rx_ring_full, (unsigned long long)k.rx_fill_ring_empty_descs,
	   (unsigned long long)k.tx_invalid_descs);
}

int stats_json(struct rvfd *d, uint64_t request_id, char *buf, size_t cap)
{
	struct jbuf j = { buf, cap, 0, false };
	struct rvfd_counters sum;
	struct net_loop_stats io = { 0 };
	struct rvf_wire_counters user = { 0 }, kc;
	uint64_t total_lat = 0;
	unsigned b;

	memset(&sum, 0, sizeof(sum));
	for (unsigned t = 0; t < rvfd_nworkers(d); t++) {
		struct rvfd_worker *w = rvfd_worker_at(d, t);
		const uint64_t *src = (const uint64_t *)&w->c;
		uint64_t *dst = (uint64_t *)&sum;

		for (size_t i = 0; i < sizeof(sum) / sizeof(uint64_t); i++)
			dst[i] += rd(&src[i]);
		io.received += rd(&w->io.received);
		io.sent += rd(&w->io.sent);
		io.send_errors += rd(&w->io.send_errors);
		io.rearms += rd(&w->io.rearms);
		io.drained += rd(&w->io.drained);
		io.fallbacks += rd(&w->io.fallbacks);
	}
	for (int r = 0; r < RVF_WIRE_R_NREASONS; r++)
		*rvf_wire_counter_field(&user, r) = sum.reason[r];
	for (b = 0; b < RVFD_LAT_BUCKETS; b++)
		total_lat += sum.lat[b];

	jp(&j, "{\"instance\":");
	jstr(&j, d->instance);
	jp(&j, ",\"version\":%u,\"uptime_s\":%.3f,\"io\":\"%s\",\"io_fallback\":", RVF_WIRE_VERSION,
	   (double)(now_mono_ns() - d->start_ns) / 1e9, net_io_name(d->io));
	jstr(&j, d->io_why);
	jp(&j, ",\"filter_level\":\"%s\",\"filter_note\":", filter_level_name(d->filter_level));
	jstr(&j, d->filter_why);
	jp(&j, ",\"threads\":%u,\"datagrams\":%llu,\"queries\":%llu,\"stats_requests\":%llu",
	   d->threads, (unsigned long long)sum.datagrams, (unsigned long long)sum.queries,
	   (unsigned long long)sum.stats_requests);
	jp(&j, ",\"replies\":{");
	for (int s = 0; s <= RVF_WIRE_INTERNAL; s++)
		jp(&j, "%s\"%s\":%llu", s ? "," : "", rvf_wire_status_name(s),
		   (unsigned long long)sum.status[s]);
	jp(&j, "},\"user\":");
	jcounters(&j, &user);
	jp(&j, ",\"kernel\":");
	if (d->filter_level == RVFD_FILTER_EBPF) {
		jp(&j, "{\"xdp\":");
		if (d->xdp_attached && filter_counters(d, RVF_WIRE_SLOT_XDP, &kc) == 0)
			jcounters(&j, &kc);
		else
			jp(&j, "null");
		jp(&j, ",\"sock\":");
		if (filter_counters(d, RVF_WIRE_SLOT_SOCK, &kc) == 0)
			jcounters(&j, &kc);
		else
			jp(&j, "null");
		jp(&j, "}");
	} else {
		jp(&j, "null");
	}
	jp(&j, ",\"latency_us\":{\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"buckets\":[",
	   (unsigned long long)total_lat, (unsigned long long)percentile(sum.lat, total_lat, 0.50),
	   (unsigned long long)percentile(sum.lat, total_lat, 0.99),
	   (unsigned long long)percentile(sum.lat, total_lat, 0.999));
	{
		bool first = true;

		for (b = 0; b < RVFD_LAT_BUCKETS; b++) {
			if (!sum.lat[b])
				continue;
			jp(&j, "%s[%llu,%llu]", first ? "" : ",", 1ull << b, (unsigned long long)sum.lat[b]);
			first = false;
		}
	}
	jp(&j, "]},\"io_stats\":{\"received\":%llu,\"sent\":%llu,\"send_errors\":%llu,\"rearms\":%llu,"
	   "\"drained\":%llu,\"fallbacks\":%llu}",
	   (unsigned long long)io.received, (unsigned long long)io.sent,
	   (unsigned long long)io.send_errors, (unsigned long long)io.rearms,
	   (unsigned long long)io.drained, (unsigned long long)io.fallbacks);
	jp(&j, ",\"afxdp\":");
	jafxdp(&j, d);
	jp(&j, ",\"namespaces\":[");
	for (size_t i = 0; i < d->n_ns; i++) {
		const struct rvfd_ns *n = &d->ns[i];

		jp(&j, "%s{\"ns\":%u,\"path\":", i ? "," : "", n->id);
		jstr(&j, n->path);
		jp(&j, ",\"dim\":%u,\"live\":%llu,\"epoch\":%llu,\"refreshes\":%llu}", n->shape.dim,
		   (unsigned long long)rd(&n->live), (unsigned long long)rd(&n->generation),
		   (unsigned long long)rd(&n->refreshes));
	}
	/* a string: a u64 does not survive JSON readers that use doubles */
	jp(&j, "],\"request_id\":\"%llu\"}", (unsigned long long)request_id);
	if (j.overflow)
		return -ENOSPC;
	return (int)j.len;
}
