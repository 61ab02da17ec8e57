/*
 * index/hnsw_io.c - serialise an HNSW index to one self-checking blob and load
 * it back without rebuilding the graph.
 *
 * Blob layout (little-endian; every list variable-length):
 *
 *   offset size  field
 *   0      8     magic "RVFHNSW\0"
 *   8      4     version (1)
 *   12     4     flags: bit 0 = every vector present
 *   16     4     dim
 *   20     4     metric
 *   24     4     M
 *   28     4     ef_construction
 *   32     4     quant
 *   36     4     max level (int32, -1 when empty)
 *   40     8     count (nodes incl. tombstones)
 *   48     8     live
 *   56     4     entry point (0xffffffff when empty)
 *   60     4     reserved (0)
 *   64     8     seed
 *   72     32    level generator state (4 x u64)
 *   104    8     payload length P (bytes from 128 to the checksum)
 *   112    16    reserved (0)
 *   128    P     labels u64[count], flags u8[count], levels u8[count],
 *                level-0 lists (u32 n, u32 ids[n]) per node,
 *                upper lists per node with level L > 0, levels 1..L,
 *                vectors f32[dim] (as inserted) per node that is deleted,
 *                or per node when flag bit 0 is set
 *   128+P  8     XXH3-64 of bytes [0, 128+P)
 *
 * Loading validates everything it reads (bounds, ids, degrees, levels,
 * labels) before trusting it, so a corrupt or hostile blob yields an error,
 * never an out-of-bounds access.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/log.h"
#include "index/hnsw_blob.h"
#include "index/hnsw_internal.h"

#define BLOB_MAGIC   "RVFHNSW"
#define BLOB_VERSION 1u
#define BLOB_HDR     128u
#define BLOB_ALLVECS 1u


int rvf_hnsw_save(const struct rvf_hnsw *h, unsigned flags, void **buf, size_t *len)
{
	int allvec = !!(flags & RVF_HNSW_SAVE_VECTORS);
	size_t size = BLOB_HDR + 8, n = h ? h->count : 0;
	struct wbuf w;

	if (!h || !buf || !len || (flags & ~RVF_HNSW_SAVE_VECTORS))
		return -EINVAL;
	size += n * (8 + 1 + 1);
	for (size_t i = 0; i < n; i++) {
		size += 4 * (1 + (size_t)hnsw_links(h, (uint32_t)i, 0)[0]);
		for (int lc = 1; lc <= h->levels[i]; lc++)
			size += 4 * (1 + (size_t)hnsw_links(h, (uint32_t)i, lc)[0]);
		if (allvec || (h->flags[i] & HNSW_NODE_DELETED))
			size += 4 * (size_t)h->dim;
	}
	w.p = malloc(size);
	w.len = 0;
	if (!w.p)
		return log_fail(-ENOMEM, "hnsw save: out of memory for a %zu-byte blob", size);
	memset(w.p, 0, BLOB_HDR);
	put_shape(&w, BLOB_MAGIC, BLOB_VERSION, allvec ? BLOB_ALLVECS : 0, h);
	put_u64(&w, n);
	put_u64(&w, h->live);
	put_u32(&w, h->entry);
	put_u32(&w, 0);
	put_u64(&w, h->seed);
	put(&w, h->rng, sizeof(h->rng));
	put_u64(&w, size - BLOB_HDR - 8);
	w.len = BLOB_HDR;

	put(&w, h->labels, n * 8);
	put(&w, h->flags, n);
	put(&w, h->levels, n);
	for (size_t i = 0; i < n; i++) {
		const uint32_t *l = hnsw_links(h, (uint32_t)i, 0);

		put(&w, l, 4 * (1 + (size_t)l[0]));
	}
	for (size_t i = 0; i < n; i++) {
		for (int lc = 1; lc <= h->levels[i]; lc++) {
			const uint32_t *l = hnsw_links(h, (uint32_t)i, lc);

			put(&w, l, 4 * (1 + (size_t)l[0]));
		}
	}
	for (size_t i = 0; i < n; i++)
		if (allvec || (h->flags[i] & HNSW_NODE_DELETED))
			put(&w, hnsw_orig(h, (uint32_t)i), 4 * (size_t)h->dim);
	put_u64(&w, XXH3_64bits(w.p, w.len));
	*buf = w.p;
	*len = w.len;
	return 0;
}

/* ---- load ----------------------------------------------------------------- */


/* Read one neighbour list of node u at level lc into dst (count + ids).
 * seen[v] holds the tag of the last list v was found in: a list naming a
 * node twice is refused, as rvf_hnsw_check refuses it. */
static int read_list(struct rbuf *r, const struct rvf_hnsw *h, uint32_t u, int lc, uint32_t *dst,
		     uint64_t *seen)
{
	uint64_t tag = (uint64_t)u * (HNSW_MAX_LEVEL + 1) + (uint64_t)lc + 1;
	uint32_t n;

	if (take(r, &n, 4))
		return log_fail(-EUCLEAN, "hnsw load: truncated in the lists of node %u", u);
	if (n > hnsw_max_links(h, lc))
		return log_fail(-EUCLEAN, "hnsw load: node %u level %d has %u links > %zu", u, lc, n,
				hnsw_max_links(h, lc));
	if (take(r, dst + 1, 4 * (size_t)n))
		return log_fail(-EUCLEAN, "hnsw load: truncated in the lists of node %u", u);
	for (uint32_t j = 1; j <= n; j++) {
		if (dst[j] >= h->count || dst[j] == u || h->levels[dst[j]] < lc)
			return log_fail(-EUCLEAN, "hnsw load: node %u level %d: bad link %u", u, lc, dst[j]);
		if (seen[dst[j]] == tag)
			return log_fail(-EUCLEAN, "hnsw load: node %u level %d: duplicate link %u", u, lc,
					dst[j]);
		seen[dst[j]] = tag;
	}
	dst[0] = n;
	return 0;
}

int rvf_hnsw_load(const void *buf, size_t len, rvf_hnsw_vec_fn get_vec, void *ctx,
		  struct rvf_hnsw **out)
{
	return rvf_hnsw_load_cap(buf, len, get_vec, ctx, 0, out);
}

int rvf_hnsw_load_cap(const void *buf, size_t len, rvf_hnsw_vec_fn get_vec, void *ctx, size_t capacity,
		      struct rvf_hnsw **out)
{
	uint32_t version = 0, flags = 0, dim = 0, metric = 0, M = 0, efc = 0, quant = 0, entry = 0, resv = 0;
	uint64_t count = 0, live = 0, seed = 0, rng[4] = { 0 }, plen = 0, sum = 0;
	struct rvf_hnsw_opts o = { 0 };
	struct rvf_hnsw *h = NULL;
	struct rbuf r = { buf, len, 0 };
	char magic[8];
	int32_t maxlevel = 0;
	uint64_t *seen = NULL;
	float *tmp = NULL;
	size_t nlive = 0, first = 0;
	int err = 0, lost;

	if (!buf || !out)
		return -EINVAL;
	if (len < BLOB_HDR + 8)
		return log_fail(-EUCLEAN, "hnsw load: blob truncated (%zu bytes, header needs %u)", len,
				BLOB_HDR + 8);
	take(&r, magic, 8);
	if (memcmp(magic, BLOB_MAGIC, 8))
		return log_fail(-ENOEXEC, "hnsw load: not an HNSW blob (bad magic)");
	take(&r, &version, 4);
	if (version != BLOB_VERSION)
		return log_fail(version > BLOB_VERSION ? -ENOTSUP : -EUCLEAN,
				"hnsw load: blob version %u, this build reads %u", version, BLOB_VERSION);
	take(&r, &flags, 4);
	take(&r, &dim, 4);
	take(&r, &metric, 4);
	take(&r, &M, 4);
	take(&r, &efc, 4);
	take(&r, &quant, 4);
	take(&r, &maxlevel, 4);
	take(&r, &count, 8);
	take(&r, &live, 8);
	take(&r, &entry, 4);
	take(&r, &resv, 4);
	take(&r, &seed, 8);
	take(&r, rng, sizeof(rng));
	take(&r, &plen, 8);
	if (plen != len - BLOB_HDR - 8)
		return log_fail(-EUCLEAN, "hnsw load: blob is %zu bytes, header says %llu (truncated?)",
				len, (unsigned long long)(plen + BLOB_HDR + 8));
	memcpy(&sum, (const uint8_t *)buf + len - 8, 8);
	if (sum != XXH3_64bits(buf, len - 8))
		return log_fail(-EBADMSG, "hnsw load: checksum mismatch");
	if ((flags & ~BLOB_ALLVECS) || resv || !M || (metric > RVF_METRIC_COSINE) ||
	    quant < RVF_HNSW_QUANT_NONE || quant > RVF_HNSW_QUANT_SQ8 || M < 2 || M > 255 || !efc ||
	    dim == 0 || dim > HNSW_MAX_DIM)
		return log_fail(-EUCLEAN, "hnsw load: bad parameters (dim %u metric %u M %u efc %u quant %u)",
				dim, metric, M, efc, quant);
	if (count > (uint64_t)UINT32_MAX - 1 || live > count || maxlevel < -1 ||
	    maxlevel > HNSW_MAX_LEVEL || (count == 0) != (maxlevel == -1) ||
	    (count && entry >= count) ||
	    /* each node takes at least label 8 + flags 1 + level 1 + level-0
	     * count 4 bytes, and a tombstone (or any node, with all vectors)
	     * its vector too: a blob too small for that is lying */
	    count * 14 > plen ||
	    ((flags & BLOB_ALLVECS) ? count : count - live) * 4 * (uint64_t)dim > plen)
		return log_fail(-EUCLEAN, "hnsw load: bad shape (count %llu live %llu maxlevel %d entry %u)",
				(unsigned long long)count, (unsigned long long)live, maxlevel, entry);
	if (!(flags & BLOB_ALLVECS) && live && !get_vec)
		return log_fail(-EUCLEAN, "hnsw load: blob has no vectors and no get_vec was given");

	o.M = M;
	o.ef_construction = efc;
	o.seed = seed;
	o.quant = quant;
	err = hnsw_alloc(dim, (enum rvf_metric)metric, &o, &h);
	if (err)
		return err;
	memcpy(h->rng, rng, sizeof(rng));
	if (count || capacity) {
		/* room asked for beyond the blob's nodes is only a hint */
		if (capacity > count && capacity <= (size_t)UINT32_MAX - 1 && hnsw_reserve(h, capacity))
			log_debug("hnsw load: no room for %zu nodes, loading %llu", capacity,
				  (unsigned long long)count);
		err = hnsw_reserve(h, count);
		if (err)
			goto fail;
	}
	h->count = count;       /* lists are zeroed; free() walks upper[] safely */
	h->maxlevel = maxlevel;
	h->entry = count ? entry : HNSW_NO_ID;
	tmp = malloc((size_t)dim * sizeof(float));
	seen = calloc(count ? count : 1, sizeof(*seen));
	if (!tmp || !seen) {
		err = -ENOMEM;
		goto fail;
	}
	r.off = BLOB_HDR;
	r.len = len - 8;
	if (take(&r, h->labels, count * 8) || take(&r, h->flags, count) || take(&r, h->levels, count)) {
		err = log_fail(-EUCLEAN, "hnsw load: truncated in the node table");
		goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		if (h->flags[i] & ~HNSW_NODE_DELETED) {
			err = log_fail(-EUCLEAN, "hnsw load: "
				       "node %zu has unknown flags 0x%x", i, h->flags[i]);
			goto fail;
		}
		if (h->levels[i] > maxlevel) {
			err = log_fail(-EUCLEAN, "hnsw load: "
				       "node %zu has level %u above max level %d", i, h->levels[i], maxlevel);
			goto fail;
		}
		nlive += !(h->flags[i] & HNSW_NODE_DELETED);
	}
	if (nlive != live) {
		err = log_fail(-EUCLEAN, "hnsw load: "
			       "live count %llu but %zu nodes are not deleted", (unsigned long long)live, nlive);
		goto fail;
	}
	if (count && h->levels[entry] != maxlevel) {
		err = log_fail(-EUCLEAN, "hnsw load: "
			       "entry point %u has level %u, max level is %d", entry, h->levels[entry], maxlevel);
		goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		err = read_list(&r, h, (uint32_t)i, 0, hnsw_links(h, (uint32_t)i, 0), seen);
		if (err)
			goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		if (!h->levels[i])
			continue;
		h->upper[i] = calloc((size_t)h->levels[i] * (h->M + 1), sizeof(uint32_t));
		if (!h->upper[i]) {
			err = -ENOMEM;
			goto fail;
		}
		for (int lc = 1; lc <= h->levels[i]; lc++) {
			err = read_list(&r, h, (uint32_t)i, lc, hnsw_links(h, (uint32_t)i, lc), seen);
			if (err)
				goto fail;
		}
	}
	for (size_t i = 0; i < count; i++) {
		const uint32_t *l = hnsw_links(h, (uint32_t)i, 0);

		for (uint32_t j = 1; j <= l[0]; j++)
			h->indeg0[l[j]]++;
	}
	for (size_t i = 0; i < count; i++) {
		uint32_t id = (uint32_t)i;
		const float *v;

		if ((flags & BLOB_ALLVECS) || (h->flags[i] & HNSW_NODE_DELETED)) {
			if (take(&r, tmp, (size_t)dim * 4)) {
				err = log_fail(-EUCLEAN, "hnsw load: truncated in the vectors");
				goto fail;
			}
			v = tmp;
		} else {
			v = get_vec(ctx, h->labels[i], id);
			if (!v) {
				err = log_fail(-EUCLEAN, "hnsw load: "
					       "no vector for label %llu (node %u)", (unsigned long long)h->labels[i], id);
				goto fail;
			}
		}
		for (uint32_t d = 0; d < dim; d++)
			if (!isfinite(v[d])) {
				err = log_fail(-EUCLEAN, "hnsw load: "
					       "vector of node %u has a non-finite value", id);
				goto fail;
			}
		hnsw_place_vector(h, id, v);
	}
	if (r.off != r.len) {
		err = log_fail(-EUCLEAN, "hnsw load: "
			       "%zu unexpected bytes after the vectors", r.len - r.off);
		goto fail;
	}
	/* Label map: a live node wins; among tombstones the newest. */
	for (size_t i = 0; i < count; i++) {
		uint32_t id = (uint32_t)i, old = lmap_get(&h->map, h->labels[i]);
		int dead = h->flags[i] & HNSW_NODE_DELETED;

		if (old != HNSW_NO_ID && !(h->flags[old] & HNSW_NODE_DELETED)) {
			if (!dead) {
				err = log_fail(-EUCLEAN, "hnsw load: "
					       "label %llu is live on nodes %u and %u", (unsigned long long)h->labels[i],
					       old, id);
				goto fail;
			}
			continue;
		}
		if (lmap_put(&h->map, h->labels[i], id)) {
			err = -ENOMEM;
			goto fail;
		}
	}
	h->live = live;
	/* Single inserts repair reachability only now and then, so a writer
	 * can save a graph in which some live node has no path from the entry
	 * yet; a search would never return it. Re-link such nodes here, and
	 * refuse a graph that the repair cannot make whole. */
	lost = hnsw_unreachable_live(h, &first);
	if (lost > 0) {
		log_debug("hnsw load: %d live nodes unreachable from the entry point (first: node %zu); "
			  "repairing", lost, first);
		err = hnsw_repair_reachability(h);
		if (err)
			goto fail;
		lost = hnsw_unreachable_live(h, &first);
	}
	if (lost < 0) {
		err = lost;
		goto fail;
	}
	if (lost) {
		err = log_fail(-EUCLEAN, "hnsw load: %d live nodes unreachable from the entry point %u "
			       "(first: node %zu) even after repair", lost, h->entry, first);
		goto fail;
	}
	free(seen);
	free(tmp);
	log_debug("hnsw: loaded %llu nodes (%llu live), dim %u, simd %s", (unsigned long long)count,
		  (unsigned long long)live, dim, rvf_simd_name());
	*out = h;
	return 0;
fail:
	free(seen);
	free(tmp);
	rvf_hnsw_free(h);
	return err;
}
