/*
 * meta/meta_store.c - id -> metadata map: an open-addressing hash table
 * (linear probing, backward-shift deletion, no tombstones) pointing into one
 * arena of packed records (layout in filter_priv.h).
 *
 * Invariants:
 *  - slot.off1 == 0 marks an empty slot; otherwise the record of slot.id
 *    starts at arena + off1 - 1 (8-aligned) and is live.
 *  - count <= 0.7 * cap; cap is a power of two (or 0 with no table), and a
 *    table over 64 slots is at least 1/8 full (remove shrinks it), so random
 *    slot sampling stays cheap.
 *  - garbage = bytes of arena records no slot points to; once it is over
 *    half the arena the next set() repacks the live records.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/log.h"
#include "meta/filter_priv.h"
#include "meta/meta_store.h"

struct ms_slot {
	uint64_t id;
	uint64_t off1;
};

struct meta_store {
	struct ms_slot *slots;
	size_t cap;
	size_t count;
	uint8_t *arena;
	size_t alen;
	size_t acap;
	size_t garbage;
};

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* The slot holding id, or the empty slot where it would go. cap > 0. */
static inline size_t find_slot(const struct meta_store *ms, uint64_t id)
{
	size_t mask = ms->cap - 1, i = mix64(id) & mask;

	while (ms->slots[i].off1 && ms->slots[i].id != id)
		i = (i + 1) & mask;
	return i;
}

static int table_resize(struct meta_store *ms, size_t cap)
{
	struct ms_slot *old = ms->slots, *s;
	size_t oldcap = ms->cap;

	s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ms->slots = s;
	ms->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].off1)
			ms->slots[find_slot(ms, old[i].id)] = old[i];
	free(old);
	return 0;
}

int meta_store_new(struct meta_store **out)
{
	struct meta_store *ms = calloc(1, sizeof(*ms));

	if (!ms)
		return log_fail(-ENOMEM, "metadata: out of memory");
	*out = ms;
	return 0;
}

void meta_store_free(struct meta_store *ms)
{
	if (!ms)
		return;
	free(ms->slots);
	free(ms->arena);
	free(ms);
}

void meta_store_clear(struct meta_store *ms)
{
	free(ms->slots);
	free(ms->arena);
	memset(ms, 0, sizeof(*ms));
}

const uint8_t *meta_store_record(const struct meta_store *ms, uint64_t id)
{
	size_t i;

	if (!ms->cap)
		return NULL;
	i = find_slot(ms, id);
	return ms->slots[i].off1 ? ms->arena + ms->slots[i].off1 - 1 : NULL;
}

bool meta_store_has(const struct meta_store *ms, uint64_t id)
{
	return meta_store_record(ms, id) != NULL;
}

size_t meta_store_count(const struct meta_store *ms)
{
	return ms->count;
}

size_t meta_store_memory_bytes(const struct meta_store *ms)
{
	return sizeof(*ms) + ms->cap * sizeof(*ms->slots) + ms->acap;
}

/* Copy the live records into a right-sized arena, dropping the garbage. */
static int arena_repack(struct meta_store *ms)
{
	size_t live = ms->alen - ms->garbage, cap = live + live / 4 + 4096, len = 0;
	uint8_t *a = malloc(cap);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < ms->cap; i++) {
		struct ms_slot *s = &ms->slots[i];
		uint32_t size;
		if (!s->off1)
			continue;
		size = rd32(ms->arena + s->off1 - 1 + 4);
		memcpy(a + len, ms->arena + s->off1 - 1, size);
		s->off1 = len + 1;
		len += size;
	}
	free(ms->arena);
	ms->arena = a;
	ms->alen = len;
	ms->acap = cap;
	ms->garbage = 0;
	return 0;
}

static int arena_reserve(struct meta_store *ms, size_t size)
{
	size_t cap;
	uint8_t *a;

	if (ms->garbage > 65536 && ms->garbage > ms->alen / 2)
		(void)arena_repack(ms);     /* on ENOMEM, just keep the garbage */
	if (ms->acap - ms->alen >= size)
		return 0;
	cap = ms->acap + ms->acap / 2;
	if (cap < ms->alen + size)
		cap = ms->alen + size;
	if (cap < 4096)
		cap = 4096;
	a = realloc(ms->arena, cap);
	if (!a)
		return -ENOMEM;
	ms->arena = a;
	ms->acap = cap;
	return 0;
}

/* Make the table ready for one more id. */
static int table_reserve(struct meta_store *ms)
{
	if ((ms->count + 1) * 10 <= ms->cap * 7)
		return 0;
	return table_resize(ms, ms->cap ? ms->cap * 2 : 16);
}

int meta_store_set(struct meta_store *ms, uint64_t id, const struct rvf_meta_entry *e,
		   size_t n)
{
	uint16_t idx[RVF_META_MAX_FIELDS];
	size_t off, size, data, i;
	uint8_t *rec;
	int err;

	if (n == 0) {
		meta_store_remove(ms, id);
		return 0;
	}
	err = meta_entries_sort(e, n, idx, "metadata");
	if (err)
		return err;
	off = rec_slots_off((unsigned)n) + 8 * n;
	data = 0;
	for (i = 0; i < n; i++)
		if (meta_type_buf(e[i].value.type))
			data += e[i].value.v.buf.len;
	size = (off + data + 7) & ~(size_t)7;
	if (size > UINT32_MAX)
		return log_fail(-EINVAL, "metadata: %zu bytes for id %llu exceed 4 GiB", size,
				(unsigned long long)id);
	if (table_reserve(ms) || arena_reserve(ms, size))
		return log_fail(-ENOMEM, "metadata: out of memory");

	rec = ms->arena + ms->alen;
	memset(rec, 0, off);
	wr16(rec, (uint16_t)n);
	wr32(rec + 4, (uint32_t)size);
	for (i = 0; i < n; i++) {
		const struct rvf_meta_value *v = &e[idx[i]].value;
		uint64_t slot;
		wr16(rec + REC_HDR + 2 * i, e[idx[i]].field_id);
		rec[REC_HDR + 2 * n + i] = (uint8_t)v->type;
		switch (v->type) {
		case RVF_META_U64: slot = v->v.u64; break;
		case RVF_META_I64: slot = (uint64_t)v->v.i64; break;
		case RVF_META_F64: memcpy(&slot, &v->v.f64, 8); break;
		default:
			slot = (uint64_t)off << 32 | v->v.buf.len;
			if (v->v.buf.len)
				memcpy(rec + off, v->v.buf.ptr, v->v.buf.len);
			off += v->v.buf.len;
			break;
		}
		wr64(rec + rec_slots_off((unsigned)n) + 8 * i, slot);
	}
	memset(rec + off, 0, size - off);

	i = find_slot(ms, id);
	if (ms->slots[i].off1) {
		ms->garbage += rd32(ms->arena + ms->slots[i].off1 - 1 + 4);
	} else {
		ms->slots[i].id = id;
		ms->count++;
	}
	ms->slots[i].off1 = ms->alen + 1;
	ms->alen += size;
	return 0;
}

int meta_store_remove(struct meta_store *ms, uint64_t id)
{
	size_t mask, i, j;

	if (!ms->cap)
		return 0;
	mask = ms->cap - 1;
	i = find_slot(ms, id);
	if (!ms->slots[i].off1)
		return 0;
	ms->garbage += rd32(ms->arena + ms->slots[i].off1 - 1 + 4);
	/* Backward shift: pull later entries of the probe run into the hole
	 * unless their home slot lies cyclically in (hole, j]. */
	for (j = (i + 1) & mask; ms->slots[j].off1; j = (j + 1) & mask) {
		size_t home = mix64(ms->slots[j].id) & mask;
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			ms->slots[i] = ms->slots[j];
			i = j;
		}
	}
	ms->slots[i].off1 = 0;
	ms->count--;
	if (ms->count == 0) {
		meta_store_clear(ms);
	} else if (ms->cap > 64 && ms->count * 8 < ms->cap) {
		(void)table_resize(ms, ms->cap / 2);     /* on ENOMEM stay sparse */
	}
	return 1;
}

static void rec_entries(const uint8_t *rec, struct rvf_meta_entry *out)
{
	unsigned n = rd16(rec);

	for (unsigned i = 0; i < n; i++) {
		out[i].field_id = rd16(rec + REC_HDR + 2u * i);
		rec_value(rec, n, i, &out[i].value);
	}
}

int meta_store_get(const struct meta_store *ms, uint64_t id, struct rvf_meta_entry *out,
		   size_t cap, size_t *n)
{
	const uint8_t *rec = meta_store_record(ms, id);

	*n = 0;
	if (!rec)
		return -ENOENT;
	*n = rd16(rec);
	if (cap < *n)
		return -ENOSPC;
	rec_entries(rec, out);
	return 0;
}

struct id_off {
	uint64_t id;
	uint64_t off;
};

static int cmp_id_off(const void *a, const void *b)
{
	uint64_t x = ((const struct id_off *)a)->id, y = ((const struct id_off *)b)->id;

	return (x > y) - (x < y);
}

int meta_store_foreach(const struct meta_store *ms, meta_store_foreach_fn cb, void *ctx)
{
	struct rvf_meta_entry *e = NULL;
	struct id_off *v = NULL;
	size_t k = 0;
	int ret = 0;

	if (!ms->count)
		return 0;
	v = malloc(ms->count * sizeof(*v));
	e = malloc(RVF_META_MAX_FIELDS * sizeof(*e));
	if (!v || !e) {
		ret = log_fail(-ENOMEM, "metadata: out of memory");
		goto out;
	}
	for (size_t i = 0; i < ms->cap; i++)
		if (ms->slots[i].off1)
			v[k++] = (struct id_off){ ms->slots[i].id, ms->slots[i].off1 - 1 };
	qsort(v, k, sizeof(*v), cmp_id_off);
	for (size_t i = 0; i < k && !ret; i++) {
		const uint8_t *rec = ms->arena + v[i].off;
		rec_entries(rec, e);
		ret = cb(ctx, v[i].id, e, rd16(rec));
	}
out:
	free(e);
	free(v);
	return ret;
}

/* ---- planner helpers ---------------------------------------------------- */

static uint64_t splitmix_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix64(*s);
}

double filter_selectivity_estimate(const struct rvf_filter *f, const struct meta_store *ms,
				   uint64_t n_total, size_t sample_n, uint64_t seed)
{
	size_t count = ms ? ms->count : 0, hits = 0, seen = 0;
	bool miss = filter_matches_missing(f);
	double frac;

	if (!f)
		return 1.0;
	if (n_total < count)
		n_total = count;
	if (count == 0)
		return miss ? 1.0 : 0.0;
	if (sample_n == 0)
		sample_n = 1;
	if (count <= sample_n) {
		for (size_t i = 0; i < ms->cap; i++) {
			if (!ms->slots[i].off1)
				continue;
			hits += filter_eval_record(f, ms->arena + ms->slots[i].off1 - 1);
			seen++;
		}
	} else {
		uint64_t s = seed;
		/* Each id owns one slot, so a random occupied slot is a uniform
		 * random id (with replacement). */
		while (seen < sample_n) {
			size_t i = splitmix_next(&s) & (ms->cap - 1);
			if (!ms->slots[i].off1)
				continue;
			hits += filter_eval_record(f, ms->arena + ms->slots[i].off1 - 1);
			seen++;
		}
	}
	frac = (double)hits / (double)seen;
	return (frac * (double)count + (miss ? (double)(n_total - count) : 0.0)) /
	       (double)n_total;
}

static int cmp_u64p(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int filter_collect(const struct rvf_filter *f, const struct meta_store *ms, uint64_t **ids,
		   size_t *n)
{
	uint64_t *v;
	size_t k = 0;

	*ids = NULL;
	*n = 0;
	if (!ms->count)
		return 0;
	v = malloc(ms->count * sizeof(*v));
	if (!v)
		return log_fail(-ENOMEM, "filter: out of memory");
	for (size_t i = 0; i < ms->cap; i++)
		if (ms->slots[i].off1 && filter_eval_record(f, ms->arena + ms->slots[i].off1 - 1))
			v[k++] = ms->slots[i].id;
	if (!k) {
		free(v);
		return 0;
	}
	qsort(v, k, sizeof(*v), cmp_u64p);
	*ids = v;
	*n = k;
	return 0;
}
