/*
 * store/filter_cache.c - the allowed set of a repeated filter, kept as a
 * bitmap over the index's internal ids.
 *
 * Evaluating a filter costs a metadata lookup (a hash probe and a record
 * walk) per node it is asked about; an exact scan asks about every node. A
 * run of queries with one filter (rvf query --queries ... --filter) would pay
 * that per query. So the first sighting of a filter only registers it; the
 * second builds its bitmap in one pass over the nodes, and every later query
 * with that filter reads bits instead of metadata (and knows its exact
 * selectivity, so the planner needs no sample).
 *
 * Invariants:
 *  - An entry is keyed by the filter's canonical JSON (content, never the
 *    tree's address) and by the store version it was built at; any mutation
 *    bumps the version, so a bitmap is never used against other contents.
 *  - refs counts the cache's own reference plus one per query reading the
 *    bitmap and one per query context holding it (store_query.c); eviction
 *    drops the cache's reference, the last unref frees it. refs is atomic,
 *    so a context drops its reference without the store (it may outlive
 *    it); everything else in the table is read and written under mu.
 *  - bits, nodes, allowed and version are immutable once the entry holds a
 *    bitmap, so a holder reads them without the lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rvf/index.h"
#include "meta/meta_store.h"
#include "store/store_internal.h"

/* Filters with fewer nodes than this are cheap to evaluate; not cached. */
#define FC_MIN_NODES 256u

struct fc_entry {
	char *key;
	uint64_t version;
	uint64_t last;          /* tick of the last use (LRU) */
	unsigned refs;          /* atomic */
	uint64_t *bits;         /* NULL: seen once, not built */
	size_t nodes;           /* bits covered (the index's node count) */
	size_t allowed;         /* bits set */
};

static void entry_unref(struct fc_entry *e)
{
	if (e && __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(e->bits);
		free(e->key);
		free(e);
	}
}

void fcache_init(struct filter_cache *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
}

void fcache_release(struct filter_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < FC_SLOTS; i++) {
		entry_unref(c->e[i]);
		c->e[i] = NULL;
	}
	pthread_mutex_destroy(&c->mu);
}

/* Set the bit of label's node when it is live; 1 if it was set. */
static size_t set_live(const struct rvf_store *s, uint64_t *bits, uint64_t label)
{
	uint32_t i;
	int deleted;

	if (rvf_hnsw_id_of(s->h, label, &i) || rvf_hnsw_label_of(s->h, i, NULL, &deleted) || deleted)
		return 0;
	bits[i >> 6] |= 1ull << (i & 63);
	return 1;
}

/* The live nodes the filter admits. A filter that no vector without metadata
 * can match walks the metadata records in memory order (filter_collect) and
 * looks up only the matches; any other asks about every node. */
static int build_bits(const struct rvf_store *s, const struct rvf_filter *f, struct fc_entry *e)
{
	size_t n = rvf_hnsw_count(s->h), allowed = 0;
	uint64_t *bits = calloc(n / 64 + 1, sizeof(*bits));

	if (!bits)
		return -ENOMEM;
	if (!filter_matches_missing(f)) {
		uint64_t *ids;
		size_t m;
		int err = filter_collect(f, s->ms, &ids, &m);

		if (err) {
			free(bits);
			return err;
		}
		for (size_t i = 0; i < m; i++)
			allowed += set_live(s, bits, ids[i]);
		free(ids);
		n = 0;          /* done */
		e->nodes = rvf_hnsw_count(s->h);
	} else {
		e->nodes = n;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t label;
		int deleted;

		if (rvf_hnsw_label_of(s->h, (uint32_t)i, &label, &deleted) || deleted)
			continue;
		if (filter_eval(f, s->ms, label)) {
			bits[i >> 6] |= 1ull << (i & 63);
			allowed++;
		}
	}
	e->bits = bits;
	e->allowed = allowed;
	return 0;
}

/* The slot a new entry takes: an empty one, else a stale one, else the least
 * recently used. */
static size_t victim(const struct filter_cache *c, uint64_t version)
{
	size_t v = 0;

	for (size_t i = 0; i < FC_SLOTS; i++) {
		if (!c->e[i])
			return i;
		if (c->e[i]->version != version)
			v = i;
		else if (c->e[v]->version == version && c->e[i]->last < c->e[v]->last)
			v = i;
	}
	return v;
}

const struct fc_entry *fcache_get(const struct rvf_store *s, const struct rvf_filter *f,
				  size_t *allowed)
{
	/* queries take the store const; the cache is the one shared mutable part */
	struct filter_cache *c = (struct filter_cache *)&s->fcache;
	struct fc_entry *e = NULL, *ret = NULL;
	size_t slot = 0;
	char *key;

	if (rvf_hnsw_count(s->h) < FC_MIN_NODES)
		return NULL;
	key = rvf_filter_to_json(f);
	if (!key)
		return NULL;
	pthread_mutex_lock(&c->mu);
	c->tick++;
	for (size_t i = 0; i < FC_SLOTS && !e; i++)
		if (c->e[i] && c->e[i]->version == s->version && !strcmp(c->e[i]->key, key))
			e = c->e[i];
	if (!e)
		slot = victim(c, s->version);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			goto out;
		e->key = key;
		key = NULL;
		e->version = s->version;
		e->refs = 1;
		entry_unref(c->e[slot]);
		c->e[slot] = e;
	} else if (!e->bits && build_bits(s, f, e)) {
		goto out;   /* out of memory: the caller evaluates the filter itself */
	}
	e->last = c->tick;
	if (e->bits) {
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
		*allowed = e->allowed;
		ret = e;
	}
out:
	pthread_mutex_unlock(&c->mu);
	free(key);
	return ret;
}

const uint64_t *fcache_bits(const struct fc_entry *e)
{
	return e->bits;
}

size_t fcache_allowed(const struct fc_entry *e)
{
	return e->allowed;
}

uint64_t fcache_version(const struct fc_entry *e)
{
	return e->version;
}

void fcache_unref(const struct fc_entry *e)
{
	entry_unref((struct fc_entry *)e);
}

void fcache_put(const struct rvf_store *s, const struct fc_entry *e)
{
	(void)s;
	entry_unref((struct fc_entry *)e);
}
