/*
 * store/store_query.c - queries (with the filter planner), reading vectors
 * and metadata back, status and small accessors. Everything here only reads
 * the handle, so any number of threads may call it at once (no mutator may
 * run meanwhile).
 *
 * Filtered queries: the store hands the index its filter as a bitmap over
 * internal ids (the allowed set cached per filter and store version,
 * filter_cache.c) or, for a filter seen once, a callback, with the
 * selectivity (exact from the bitmap, else sampled from the metadata). The
 * index makes the one plan (rvf_hnsw_plan) and runs the one exact scan.
 *
 * Query contexts (rvf_query_ctx): the per-query state a query would
 * otherwise allocate or lock for. The index's search context (visited set,
 * heaps, query buffers: no pool mutex), the result buffer, and the filter
 * last resolved to a cached allowed set, held by reference together with a
 * clone of the filter: a query whose filter has the same content (not the
 * same address: a freed tree's address can come back with another filter)
 * at the same store version reads that bitmap without the cache's mutex
 * and without serialising the filter to find its entry.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/store_internal.h"
#include "store/store_peek.h"

#define PLAN_SAMPLE      512u
#define PLAN_SEED        0x5eedf11e7ull

struct allow_ctx {
	const struct rvf_filter *f;
	const struct meta_store *ms;
};

static int allow_cb(void *ctx, uint64_t label, uint32_t internal_id)
{
	const struct allow_ctx *a = ctx;

	(void)internal_id;
	return filter_eval(a->f, a->ms, label);
}

/* The membership bit of a node (a cached metadata bitmap holds the other half). */
static int member_cb(void *ctx, uint64_t label, uint32_t internal_id)
{
	const struct membership *m = ctx;

	(void)label;
	return internal_id < m->nbits && ((m->bits[internal_id / 64] >> (internal_id % 64)) & 1);
}

struct rvf_query_ctx {
	struct rvf_hnsw_search_ctx *hc;
	struct rvf_hnsw_result *res;     /* rcap results */
	uint32_t rcap;
	struct rvf_filter *fkey;         /* owned clone of the filter fe is for */
	const struct fc_entry *fe;       /* a reference, valid at fcache_version(fe) */
};

/* The index search, with the context's search state when there is one. */
static int index_search(const struct rvf_store *s, struct rvf_query_ctx *c, bool exact,
			const float *q, uint32_t k, uint32_t ef, const struct rvf_hnsw_filter *f,
			struct rvf_hnsw_result *res)
{
	if (c)
		return exact ? rvf_hnsw_exact_search_with(s->h, c->hc, q, k, ef, f, res)
			     : rvf_hnsw_search_with(s->h, c->hc, q, k, ef, f, res);
	return exact ? rvf_hnsw_exact_search(s->h, q, k, ef, f, res)
		     : rvf_hnsw_search(s->h, q, k, ef, f, res);
}

/* Let the context keep ce (a reference from fcache_get) for filter f; false
 * when it cannot (out of memory for the clone: the caller puts ce). */
static bool ctx_adopt(struct rvf_query_ctx *c, const struct rvf_filter *f, const struct fc_entry *ce)
{
	struct rvf_filter *key = rvf_filter_clone(f);

	if (!key)
		return false;
	fcache_unref(c->fe);
	rvf_filter_free(c->fkey);
	c->fkey = key;
	c->fe = ce;
	return true;
}

/*
 * A filtered query. The store only says what the filter admits and how
 * much of the index that is; the index plans (rvf_hnsw_plan: exact scan,
 * graph, or graph through admitted nodes) and orders the results. A cached
 * allowed set (a filter seen before at this version) gives a bitmap and the
 * exact selectivity; otherwise the selectivity is sampled and, when the
 * filter is selective enough that the index would scan it, the bitmap is
 * built at once (one walk of the metadata, cheaper than the per-node
 * lookups a scan through the callback would make); else the first sighting
 * evaluates the filter per visited node. With a context c, the bitmap it
 * holds stands in for the cache lookup when the filter matches.
 */
static int filtered_query(const struct rvf_store *s, struct rvf_query_ctx *c, const float *query,
			  uint32_t k, uint32_t ef, const struct rvf_filter *f, uint32_t flags,
			  struct rvf_hnsw_result *res)
{
	/* counters only (the handle is shared by reading threads) */
	struct store_stats *st = (struct store_stats *)&s->stats;
	struct allow_ctx a = { f, s->ms };
	size_t live = rvf_hnsw_live_count(s->h), allowed = 0;
	const struct fc_entry *ce = NULL;
	struct rvf_hnsw_filter hf = { .allow = allow_cb, .ctx = &a };
	bool exact = flags & RVF_QUERY_EXACT, held = false;
	int n;

	if (c && c->fe && fcache_version(c->fe) == s->version && filter_equal(c->fkey, f)) {
		ce = c->fe;              /* the context's own: no lock, no lookup */
		allowed = fcache_allowed(ce);
		held = true;
	} else {
		ce = fcache_get(s, f, &allowed);
		__atomic_fetch_add(&st->filter_lookups, 1, __ATOMIC_RELAXED);
		if (!ce) {
			/* first sighting (the call registered it): sample */
			hf.selectivity = filter_selectivity_estimate(f, s->ms, live, PLAN_SAMPLE, PLAN_SEED);
			if (s->mem.active)
				hf.selectivity *= live ? (double)s->mem.allowed / (double)live : 1.0;
			if (rvf_hnsw_plan(s->h, k, ef, &hf) == RVF_HNSW_PLAN_EXACT || exact)
				ce = fcache_get(s, f, &allowed);   /* builds it */
		}
		held = ce && c && ctx_adopt(c, f, ce);
	}
	if (ce) {
		hf = (struct rvf_hnsw_filter){ .bitmap = fcache_bits(ce) };
		if (!allowed) {
			if (!held)
				fcache_put(s, ce);
			return 0;
		}
		hf.selectivity = live ? (double)allowed / (double)live : 1.0;
		__atomic_fetch_add(&st->plan_cached, 1, __ATOMIC_RELAXED);
		if (s->mem.active) {
			/* both must pass: the metadata bitmap and the membership bit */
			hf.allow = member_cb;
			hf.ctx = (void *)&s->mem;
			hf.selectivity *= live ? (double)s->mem.allowed / (double)live : 1.0;
		}
	} else if (s->mem.active) {
		hf.bitmap = s->mem.bits;
	}
	if (!exact)
		__atomic_fetch_add(rvf_hnsw_plan(s->h, k, ef, &hf) == RVF_HNSW_PLAN_EXACT ? &st->plan_exact
											: &st->plan_graph,
				   1, __ATOMIC_RELAXED);
	n = index_search(s, c, exact, query, k, ef, &hf, res);
	if (!held)
		fcache_put(s, ce);
	return n;
}

/* c NULL: a plain query (result buffer allocated, pooled index contexts). */
static int query_common(const struct rvf_store *s, struct rvf_query_ctx *c, const float *query,
			uint32_t dim, uint32_t k, const struct rvf_query_opts *o, struct rvf_result *out)
{
	const struct rvf_filter *f = o ? o->filter : NULL;
	uint32_t flags = o ? o->flags : 0, ef;
	struct rvf_hnsw_result *res;
	int n;

	if (!s || !query || !out)
		return -EINVAL;
	n = store_readable(s);
	if (n)
		return n;
	if (dim != s->hdr.dimension)
		return log_fail(-EINVAL, "%s: query has dimension %u, the store %u", s->path, dim,
				s->hdr.dimension);
	if (!k)
		return log_fail(-EINVAL, "%s: query with k = 0", s->path);
	for (uint32_t d = 0; d < dim; d++)
		if (!isfinite(query[d]))
			return log_fail(-EINVAL, "%s: query value %u is NaN or infinite", s->path, d);
	ef = o && o->ef_search ? o->ef_search : (k > 64 ? k : 64);
	if (ef < k)
		ef = k;
	if (c && c->rcap < k) {
		/* grows once to the largest k seen: outside the steady state */
		res = malloc((size_t)k * sizeof(*res));
		if (!res)
			return -ENOMEM;
		free(c->res);
		c->res = res;
		c->rcap = k;
	}
	res = c ? c->res : malloc((size_t)k * sizeof(*res));
	if (!res)
		return -ENOMEM;
	if (s->mem.active && !s->mem.allowed)
		n = 0;                   /* e.g. an empty include filter: nothing is visible */
	else if (!f && s->mem.active) {
		size_t live = rvf_hnsw_live_count(s->h);
		struct rvf_hnsw_filter hf = {
			.bitmap = s->mem.bits,
			.selectivity = live ? (double)s->mem.allowed / (double)live : 1.0,
		};
		n = index_search(s, c, flags & RVF_QUERY_EXACT, query, k, ef, &hf, res);
	} else if (!f)
		n = index_search(s, c, flags & RVF_QUERY_EXACT, query, k, ef, NULL, res);
	else
		n = filtered_query(s, c, query, k, ef, f, flags, res);
	for (int i = 0; i < n; i++) {
		out[i].id = res[i].label;
		out[i].distance = (flags & RVF_QUERY_OMIT_DISTANCES) ? 0.0f : res[i].distance;
	}
	if (!c)
		free(res);
	return n;
}

int rvf_store_query(const struct rvf_store *s, const float *query, uint32_t dim, uint32_t k,
		    const struct rvf_query_opts *o, struct rvf_result *out)
{
	return query_common(s, NULL, query, dim, k, o, out);
}

#define CTX_MIN_K 64u

int rvf_query_ctx_new(const struct rvf_store *s, struct rvf_query_ctx **out)
{
	struct rvf_query_ctx *c;
	int err;

	if (!s || !out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = rvf_hnsw_search_ctx_new(s->h, &c->hc);
	if (!err) {
		c->res = malloc(CTX_MIN_K * sizeof(*c->res));
		c->rcap = CTX_MIN_K;
		if (!c->res)
			err = -ENOMEM;
	}
	if (err) {
		rvf_query_ctx_free(c);
		return err;
	}
	*out = c;
	return 0;
}

void rvf_query_ctx_free(struct rvf_query_ctx *c)
{
	if (!c)
		return;
	rvf_hnsw_search_ctx_free(c->hc);
	free(c->res);
	fcache_unref(c->fe);
	rvf_filter_free(c->fkey);
	free(c);
}

int rvf_store_query_ctx(const struct rvf_store *s, struct rvf_query_ctx *c, const float *query,
			uint32_t dim, uint32_t k, const struct rvf_query_opts *o, struct rvf_result *out)
{
	if (!c)
		return -EINVAL;
	return query_common(s, c, query, dim, k, o, out);
}

/* ---- reading back ---------------------------------------------------------------- */

int rvf_store_get_vector(const struct rvf_store *s, uint64_t id, float *out, uint32_t dim)
{
	const float *v;

	if (!s || !out)
		return -EINVAL;
	if (store_readable(s))
		return store_readable(s);
	if (dim != s->hdr.dimension)
		return -EINVAL;
	v = rvf_hnsw_vector(s->h, id);
	if (!v)
		return -ENOENT;
	memcpy(out, v, (size_t)dim * 4);
	return 0;
}

int rvf_store_get_meta(const struct rvf_store *s, uint64_t id, struct rvf_meta_entry **out, size_t *n)
{
	struct rvf_meta_entry *tmp, *all;
	size_t cnt = 0, bytes = 0;
	int err;

	if (!s || !out || !n)
		return -EINVAL;
	if (store_readable(s))
		return store_readable(s);
	if (!rvf_hnsw_contains(s->h, id))
		return -ENOENT;
	tmp = malloc(RVF_META_MAX_FIELDS * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	err = meta_store_get(s->ms, id, tmp, RVF_META_MAX_FIELDS, &cnt);
	if (err == -ENOENT) {
		cnt = 0;
		err = 0;
	}
	if (err) {
		free(tmp);
		return err;
	}
	for (size_t i = 0; i < cnt; i++)
		if (tmp[i].value.type == RVF_META_STRING || tmp[i].value.type == RVF_META_BYTES)
			bytes += tmp[i].value.v.buf.len;
	all = malloc(cnt * sizeof(*all) + bytes + 1);
	if (!all) {
		free(tmp);
		return -ENOMEM;
	}
	char *p = (char *)(all + cnt);
	for (size_t i = 0; i < cnt; i++) {
		all[i] = tmp[i];
		if (tmp[i].value.type == RVF_META_STRING || tmp[i].value.type == RVF_META_BYTES) {
			if (tmp[i].value.v.buf.len)
				memcpy(p, tmp[i].value.v.buf.ptr, tmp[i].value.v.buf.len);
			all[i].value.v.buf.ptr = p;
			p += tmp[i].value.v.buf.len;
		}
	}
	free(tmp);
	*out = all;
	*n = cnt;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int rvf_store_live_ids(const struct rvf_store *s, uint64_t **ids, size_t *n)
{
	uint64_t *a;
	size_t k = 0;

	if (!s || !ids || !n)
		return -EINVAL;
	if (store_readable(s))
		return store_readable(s);
	if (store_is_cow(s)) {
		/* the branch's view: every live node of its graph */
		size_t nodes = rvf_hnsw_count(s->h);
		a = malloc((rvf_hnsw_live_count(s->h) + 1) * 8);
		if (!a)
			return -ENOMEM;
		for (size_t i = 0; i < nodes; i++) {
			uint64_t label;
			int dead;
			if (!rvf_hnsw_label_of(s->h, (uint32_t)i, &label, &dead) && !dead)
				a[k++] = label;
		}
		qsort(a, k, 8, cmp_u64);
		*ids = a;
		*n = k;
		return 0;
	}
	a = malloc((s->hdr.live ? s->hdr.live : 1) * 8);
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < s->map.cap; i++) {
		const struct loc *l = &s->map.slots[i];
		if (l->flags && !(l->flags & LOC_DELETED))
			a[k++] = l->id;
	}
	qsort(a, k, 8, cmp_u64);
	*ids = a;
	*n = k;
	return 0;
}

/* ---- status ------------------------------------------------------------------------ */

int rvf_store_status(const struct rvf_store *s, struct rvf_store_status *st)
{
	struct rvf_store_status r;
	uint32_t *fields = NULL;
	size_t nf = 0;
	uint64_t rowb, bs, committed_end;
	int64_t fsize;
	int err;

	if (!s || !st)
		return -EINVAL;
	if (store_readable(s))
		return store_readable(s);
	memset(&r, 0, sizeof(r));
	err = rvf_dir_vector_index_fields(s->dir, &fields, &nf);
	if (err)
		return err;
	free(fields);
	fsize = rvf_dir_file_size(s->dir);
	if (fsize < 0)
		return (int)fsize;
	rowb = store_row_bytes(s);
	bs = rvf_dir_block_size(s->dir);
	r.live_vectors = s->hdr.live;
	r.deleted_vectors = s->hdr.deleted;
	r.segments = s->segs.n + nf;
	r.file_size = (uint64_t)fsize;
	r.epoch = rvf_dir_generation(s->dir);
	r.dead_bytes = rvf_dir_free_block_count(s->dir) * bs;
	committed_end = RVF_DATA_START + rvf_dir_total_blocks(s->dir) * bs;
	if (r.file_size > committed_end)
		r.dead_bytes += r.file_size - committed_end;
	for (size_t i = 0; i < s->segs.n; i++) {
		const struct sseg *g = &s->segs.a[i];
		switch (g->type) {
		case RVF_SEG_VEC:
			r.live_bytes += g->live_rows * rowb;
			r.dead_bytes += g->live_rows ? (g->rows - g->live_rows) * rowb : g->disk_bytes;
			break;
		case RVF_SEG_META:
			r.live_bytes += g->live_bytes;
			r.dead_bytes += g->live_bytes ? g->payload_len - META_SEG_HDR - g->live_bytes
						      : g->disk_bytes;
			break;
		case RVF_SEG_JOURNAL:
			r.dead_bytes += g->disk_bytes;
			break;
		default:
			r.live_bytes += g->payload_len;
		}
	}
	r.live_bytes += s->ckpt_bytes;
	r.dead_space_ratio = r.file_size ? (double)r.dead_bytes / (double)r.file_size : 0;
	r.dimension = s->hdr.dimension;
	r.metric = (enum rvf_metric)s->hdr.metric;
	r.profile = (int)s->hdr.profile;
	r.read_only = s->readonly;
	r.frozen = s->hdr.flags & STORE_F_FROZEN;
	if (store_is_cow(s))
		r.live_vectors += s->cow.base_live;
	r.vector_indexes = nf;
	if (s->h) {
		struct rvf_hnsw_opts ho;

		rvf_hnsw_get_opts(s->h, &ho);
		r.has_index = true;
		r.index_nodes = rvf_hnsw_count(s->h);
		r.index_memory_bytes = rvf_hnsw_memory_bytes(s->h);
		r.index_m = ho.M;
		r.index_ef_construction = ho.ef_construction;
		r.index_quant = ho.quant;
	}
	*st = r;
	return 0;
}

uint32_t rvf_store_dimension(const struct rvf_store *s) { return s ? s->hdr.dimension : 0; }
enum rvf_metric rvf_store_metric(const struct rvf_store *s)
{
	return s ? (enum rvf_metric)s->hdr.metric : RVF_METRIC_L2;
}
const char *rvf_store_path(const struct rvf_store *s) { return s ? s->path : NULL; }
struct rvf_dir *rvf_store_dir(const struct rvf_store *s) { return s ? s->dir : NULL; }
const struct rvf_hnsw *rvf_store_index(const struct rvf_store *s) { return s ? s->h : NULL; }

int rvf_store_segment_dir(const struct rvf_store *s, struct rvf_dir_segment **out, size_t *n)
{
	if (!s || !out || !n)
		return -EINVAL;
	return rvf_dir_segments(s->dir, out, n);
}

const char *rvf_metric_name(enum rvf_metric m)
{
	switch (m) {
	case RVF_METRIC_L2: return "l2";
	case RVF_METRIC_IP: return "ip";
	case RVF_METRIC_COSINE: return "cosine";
	}
	return "unknown";
}

int rvf_metric_parse(const char *name, enum rvf_metric *m)
{
	if (!name || !m)
		return -EINVAL;
	if (!strcmp(name, "l2"))
		*m = RVF_METRIC_L2;
	else if (!strcmp(name, "ip"))
		*m = RVF_METRIC_IP;
	else if (!strcmp(name, "cosine"))
		*m = RVF_METRIC_COSINE;
	else
		return -EINVAL;
	return 0;
}

/* ---- identity -------------------------------------------------------------------------- */

int rvf_store_file_identity(const struct rvf_store *s, struct rvf_file_identity *out)
{
	if (!s || !out)
		return -EINVAL;
	*out = s->hdr.identity;
	return 0;
}

void rvf_store_file_id(const struct rvf_store *s, uint8_t out[16])
{
	if (s && out)
		memcpy(out, s->hdr.identity.file_id, 16);
}

void rvf_store_parent_id(const struct rvf_store *s, uint8_t out[16])
{
	if (s && out)
		memcpy(out, s->hdr.identity.parent_id, 16);
}

uint32_t rvf_store_lineage_depth(const struct rvf_store *s)
{
	return s ? s->hdr.identity.lineage_depth : 0;
}

int rvf_store_derivation(const struct rvf_store *s, struct rvf_lineage_record *out)
{
	if (!s || !out)
		return -EINVAL;
	if (!(s->hdr.flags & STORE_F_LINEAGE))
		return -ENOENT;
	*out = s->hdr.lineage;
	return 0;
}

int store_stats(const struct rvf_store *s, struct store_stats *out)
{
	if (!s || !out)
		return -EINVAL;
	*out = s->stats;
	return 0;
}
