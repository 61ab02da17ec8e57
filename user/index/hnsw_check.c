/*
 * index/hnsw_check.c - the HNSW invariant checker and the reachability
 * repair run after batch inserts.
 *
 * Reachability is judged on level 0 from the entry point, through every node
 * (tombstones route too). Only live nodes must be reachable.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "index/hnsw_internal.h"

/* BFS on level 0 from the nodes already queued (marked in reach). */
static void bfs(const struct rvf_hnsw *h, uint8_t *reach, uint32_t *queue, size_t head, size_t tail)
{
	while (head < tail) {
		const uint32_t *l = hnsw_links(h, queue[head++], 0);

		for (uint32_t j = 1; j <= l[0]; j++) {
			uint32_t v = l[j];

			if (v < h->count && !reach[v]) {
				reach[v] = 1;
				queue[tail++] = v;
			}
		}
	}
}

static int reach_from_entry(const struct rvf_hnsw *h, uint8_t **reachp, uint32_t **queuep)
{
	uint8_t *reach = calloc(h->count, 1);
	uint32_t *queue = malloc(h->count * sizeof(*queue));

	if (!reach || !queue) {
		free(reach);
		free(queue);
		return -ENOMEM;
	}
	reach[h->entry] = 1;
	queue[0] = h->entry;
	bfs(h, reach, queue, 0, 1);
	*reachp = reach;
	*queuep = queue;
	return 0;
}

int hnsw_unreachable_live(const struct rvf_hnsw *h, size_t *first)
{
	uint32_t *queue;
	uint8_t *reach;
	size_t lost = 0;
	int err;

	if (!h->count)
		return 0;
	err = reach_from_entry(h, &reach, &queue);
	if (err)
		return err;
	for (size_t i = h->count; i-- > 0;)
		if (!reach[i] && !(h->flags[i] & HNSW_NODE_DELETED)) {
			lost++;
			*first = i;
		}
	free(reach);
	free(queue);
	return lost > INT32_MAX ? INT32_MAX : (int)lost;
}

int hnsw_repair_reachability(struct rvf_hnsw *h)
{
	uint32_t nb[16];
	int err = 0;

	if (!h->count || h->maxlevel < 0)
		return 0;
	for (int round = 0; round < 8; round++) {
		uint8_t *reach;
		uint32_t *queue;
		size_t fixed = 0, lost = 0;

		err = reach_from_entry(h, &reach, &queue);
		if (err)
			return log_fail(err, "hnsw: out of memory checking reachability");
		for (size_t i = 0; i < h->count; i++) {
			uint32_t u = (uint32_t)i;
			size_t n;

			if (reach[u] || (h->flags[u] & HNSW_NODE_DELETED))
				continue;
			lost++;
			n = hnsw_nearest_nodes(h, u, h->efc, nb, 16);
			/* the search also descends upper levels: keep only nodes
			 * reachable on level 0, or the new link fixes nothing */
			size_t r = 0;
			for (size_t j = 0; j < n; j++)
				if (reach[nb[j]])
					nb[r++] = nb[j];
			/* none of them: the entry point always is reachable */
			if (!r)
				nb[r++] = h->entry;
			if (!hnsw_adopt(h, u, nb, r, 1))
				continue;
			fixed++;
			reach[u] = 1;
			queue[0] = u;
			bfs(h, reach, queue, 0, 1);
		}
		free(reach);
		free(queue);
		if (lost)
			log_debug("hnsw: repair round %d: %zu unreachable live nodes, %zu relinked", round,
				  lost, fixed);
		if (!lost || !fixed)
			break;
	}
	return 0;
}

int rvf_hnsw_check(const struct rvf_hnsw *h)
{
	uint32_t *indeg = NULL;
	uint64_t *seen = NULL;
	size_t live = 0, first = 0;
	int err = 0, lost;

	if (!h)
		return -EINVAL;
	if (h->count > h->cap)
		return log_fail(-EUCLEAN, "hnsw check: count %zu > capacity %zu", h->count, h->cap);
	if (!h->count) {
		if (h->maxlevel != -1 || h->live)
			return log_fail(-EUCLEAN, "hnsw check: empty index with maxlevel %d, live %zu",
					h->maxlevel, h->live);
		return 0;
	}
	if (h->entry >= h->count)
		return log_fail(-EUCLEAN, "hnsw check: entry point %u >= count %zu", h->entry, h->count);
	if (h->maxlevel < 0 || h->levels[h->entry] != h->maxlevel)
		return log_fail(-EUCLEAN, "hnsw check: entry point %u has level %u, max level is %d",
				h->entry, h->levels[h->entry], h->maxlevel);
	indeg = calloc(h->count, sizeof(*indeg));
	seen = calloc(h->count, sizeof(*seen));
	if (!indeg || !seen) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < h->count; i++) {
		uint32_t u = (uint32_t)i;
		int L = h->levels[u];

		if (!(h->flags[u] & HNSW_NODE_DELETED)) {
			uint32_t m = lmap_get(&h->map, h->labels[u]);

			live++;
			if (m != u) {
				err = log_fail(-EUCLEAN, "hnsw check: "
					       "live node %u (label %llu) not found under its label (maps to %d)", u,
					       (unsigned long long)h->labels[u], m == HNSW_NO_ID ? -1 : (int)m);
				goto out;
			}
		}
		if (h->flags[u] & ~HNSW_NODE_DELETED) {
			err = log_fail(-EUCLEAN, "hnsw check: "
				       "node %u has unknown flags 0x%x", u, h->flags[u]);
			goto out;
		}
		if (L > h->maxlevel) {
			err = log_fail(-EUCLEAN, "hnsw check: "
				       "node %u has level %d above the max level %d", u, L, h->maxlevel);
			goto out;
		}
		if ((L > 0) != (h->upper[u] != NULL)) {
			err = log_fail(-EUCLEAN, "hnsw check: "
				       "node %u: level %d but upper lists %s", u, L, h->upper[u] ? "present" : "missing");
			goto out;
		}
		for (int lc = 0; lc <= L; lc++) {
			const uint32_t *l = hnsw_links(h, u, lc);

			if (l[0] > hnsw_max_links(h, lc)) {
				err = log_fail(-EUCLEAN, "hnsw check: "
					       "node %u level %d: %u links > max %zu", u, lc, l[0], hnsw_max_links(h, lc));
				goto out;
			}
			for (uint32_t j = 1; j <= l[0]; j++) {
				uint32_t v = l[j];

				if (v >= h->count) {
					err = log_fail(-EUCLEAN, "hnsw check: "
						       "node %u level %d: link to %u >= count %zu", u, lc, v, h->count);
					goto out;
				}
				if (v == u) {
					err = log_fail(-EUCLEAN, "hnsw check: "
						       "node %u level %d: self link", u, lc);
					goto out;
				}
				if (h->levels[v] < lc) {
					err = log_fail(-EUCLEAN, "hnsw check: "
						       "node %u level %d: link to %u which has level %u", u, lc, v,
						       h->levels[v]);
					goto out;
				}
				/* seen[v] = tag of the list (u, lc) it was last seen in */
				if (seen[v] == (uint64_t)u * 32u + (uint64_t)lc + 1) {
					err = log_fail(-EUCLEAN, "hnsw check: "
						       "node %u level %d: duplicate link to %u", u, lc, v);
					goto out;
				}
				seen[v] = (uint64_t)u * 32u + (uint64_t)lc + 1;
				if (lc == 0)
					indeg[v]++;
			}
		}
	}
	if (live != h->live) {
		err = log_fail(-EUCLEAN, "hnsw check: "
			       "live count %zu, but %zu nodes are not deleted", h->live, live);
		goto out;
	}
	for (size_t i = 0; i < h->count; i++)
		if (indeg[i] != h->indeg0[i]) {
			err = log_fail(-EUCLEAN, "hnsw check: "
				       "node %zu: level-0 in-degree %u recorded as %u", i, indeg[i], h->indeg0[i]);
			goto out;
		}
	lost = hnsw_unreachable_live(h, &first);
	if (lost < 0)
		err = lost;
	else if (lost)
		err = log_fail(-EUCLEAN, "hnsw check: "
			       "live node %zu (label %llu) unreachable from the entry point %u", first,
			       (unsigned long long)h->labels[first], h->entry);
out:
	free(indeg);
	free(seen);
	return err;
}
