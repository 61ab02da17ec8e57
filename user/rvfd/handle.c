/*
 * rvfd/handle.c - one datagram in, one reply out. Knows the protocol and the
 * stores, nothing of sockets: every transport (io_uring, syscalls,
 * AF_XDP in afxdp.c) calls handle_datagram with a datagram and its source.
 *
 *   stats magic          -> stats JSON reply
 *   query                -> full validation (rvf_wire_query_validate: every
 *                           header field against the namespace, the length,
 *                           k/ef, the vector's finiteness), whatever the
 *                           kernel filter already checked
 *     truncated/bad magic   dropped unanswered (counted)
 *     other faults          BAD_REQUEST / NOT_MEMBER reply (counted)
 *     valid, draining       SHUTTING_DOWN
 *     valid, queued longer than --max-wait-ms   OVERLOADED (not searched)
 *     valid                 HNSW search with the request's k and ef -> OK
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "rvfd/rvfd.h"

static const struct rvf_filter *filter_find(const struct rvfd *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_filters; i++)
		if (d->filters[i].id == id)
			return d->filters[i].f;
	return NULL;
}

static size_t stats_reply(struct rvfd_worker *w, const struct net_dgram *dg, uint8_t *reply, size_t cap)
{
	char json[RVFD_STATS_MAX];
	uint64_t rid;
	int n;

	if (rvf_wire_stats_request_parse(dg->data, dg->len, &rid)) {
		counters_add(&w->c.reason[RVF_WIRE_R_BAD_HEADER], 1);
		return 0;
	}
	counters_add(&w->c.stats_requests, 1);
	n = stats_json(w->d, rid, json, sizeof(json));
	if (n < 0) {
		log_warn("stats reply does not fit %zu bytes", sizeof(json));
		return 0;
	}
	n = rvf_wire_stats_reply_encode(json, (size_t)n, reply, cap);
	return n < 0 ? 0 : (size_t)n;
}

size_t handle_datagram(void *ctx, const struct net_dgram *dg, bool draining, uint8_t *reply, size_t cap)
{
	struct rvfd_worker *w = ctx;
	struct rvfd *d = w->d;
	struct rvf_wire_query q;
	struct rvf_wire_reply h = { 0 };
	const struct rvfd_ns *ns = NULL;
	const struct rvf_filter *filter = NULL;
	const void *vec = NULL;
	struct rvf_wire_result out[RVF_WIRE_MAX_K];
	enum rvf_wire_reason why;
	uint64_t t0 = dg->rx_ns ? dg->rx_ns : now_realtime_ns();
	int status, n;

	counters_add(&w->c.datagrams, 1);
	if (dg->avail >= 4) {
		uint32_t magic;

		memcpy(&magic, dg->data, 4);
		if (magic == RVF_WIRE_STATS_MAGIC)
			return stats_reply(w, dg, reply, cap);
	}
	why = rvf_wire_query_parse(dg->data, dg->avail, &q);
	if (why == RVF_WIRE_R_PASSED) {
		ns = ns_find(d, q.ns_id);
		why = rvf_wire_query_validate(dg->data, dg->avail, ns ? &ns->shape : NULL, &q, &vec);
		/* longer than our receive buffer: longer than any query we serve,
		 * whatever the bytes we have say */
		if (dg->len != dg->avail && (why == RVF_WIRE_R_PASSED || why == RVF_WIRE_R_BAD_K ||
					     why == RVF_WIRE_R_NONFINITE))
			why = RVF_WIRE_R_BAD_LENGTH;
	}
	if (why == RVF_WIRE_R_PASSED && q.filter_id && !(filter = filter_find(d, q.filter_id)))
		why = RVF_WIRE_R_BAD_HEADER;   /* a filter id rvfd was not given */
	counters_add(&w->c.reason[why], 1);
	status = rvf_wire_reason_status(why);
	if (status < 0)
		return 0;   /* not a query: no answer to junk */

	if (status == RVF_WIRE_OK) {
		if (draining) {
			status = RVF_WIRE_SHUTTING_DOWN;
		} else if (d->max_wait_ms && dg->rx_ns &&
			   now_realtime_ns() > dg->rx_ns + (uint64_t)d->max_wait_ms * 1000000ull) {
			status = RVF_WIRE_OVERLOADED;   /* the client has likely given up on it */
		} else {
			struct rvf_query_opts qo = {
				.ef_search = q.ef ? q.ef : d->ef_default,
				.filter = filter,
			};
			float aligned[RVF_WIRE_MAX_DIM];
			const float *v = vec;

			if ((uintptr_t)vec % _Alignof(float)) {
				memcpy(aligned, vec, (size_t)q.dim * sizeof(float));
				v = aligned;
			}
			pthread_rwlock_rdlock(&d->lock);
			n = rvf_store_query_ctx(ns->store, w->qctx, v, q.dim, q.k, &qo, w->res);
			pthread_rwlock_unlock(&d->lock);
			counters_add(&w->c.queries, 1);
			if (n < 0) {
				status = RVF_WIRE_INTERNAL;
				log_error("namespace %u: query %llu failed: %s", q.ns_id,
					  (unsigned long long)q.request_id, rvf_strerror(n));
			} else {
				for (int i = 0; i < n; i++) {
					out[i].id = w->res[i].id;
					out[i].distance = w->res[i].distance;
				}
				h.count = (uint16_t)n;
			}
		}
	}
	h.status = (uint8_t)status;
	h.ns_id = q.ns_id;
	h.request_id = q.request_id;
	n = rvf_wire_reply_encode(&h, out, reply, cap);
	if (n < 0)
		return 0;
	counters_add(&w->c.status[status], 1);
	if (status == RVF_WIRE_OK) {
		uint64_t t1 = now_realtime_ns();

		counters_latency(&w->c, t1 > t0 ? (t1 - t0) / 1000 : 0);   /* the clock may step */
	}
	return (size_t)n;
}
