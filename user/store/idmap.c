/*
 * store/idmap.c - open-addressing hash map from a vector id to where its
 * current row and metadata record live (struct loc), plus the sorted segment
 * table. Linear probing, load factor <= 0.7, no removal (compaction builds a
 * new map).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

int idmap_init(struct idmap *m, size_t hint)
{
	size_t cap = 64;

	if (hint > SIZE_MAX / 4 / sizeof(*m->slots))
		return -ENOMEM;        /* the doubling below would wrap */
	while (cap < hint + hint / 2 + 16)
		cap <<= 1;
	memset(m, 0, sizeof(*m));
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots)
		return -ENOMEM;
	m->cap = cap;
	return 0;
}

void idmap_release(struct idmap *m)
{
	if (!m)
		return;
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

struct loc *idmap_get(const struct idmap *m, uint64_t id)
{
	size_t mask = m->cap - 1, i = (size_t)mix64(id) & mask;

	if (!m->cap)
		return NULL;
	for (;;) {
		struct loc *l = &m->slots[i];
		if (!l->flags)
			return NULL;
		if (l->id == id)
			return l;
		i = (i + 1) & mask;
	}
}

static int grow(struct idmap *m)
{
	struct idmap n;
	int err = idmap_init(&n, m->cap);   /* doubles (cap >= 1.5 * old cap) */

	if (err)
		return err;
	for (size_t i = 0; i < m->cap; i++) {
		const struct loc *l = &m->slots[i];
		if (!l->flags)
			continue;
		size_t mask = n.cap - 1, j = (size_t)mix64(l->id) & mask;
		while (n.slots[j].flags)
			j = (j + 1) & mask;
		n.slots[j] = *l;
		n.used++;
	}
	free(m->slots);
	*m = n;
	return 0;
}

struct loc *idmap_put(struct idmap *m, uint64_t id)
{
	struct loc *l = idmap_get(m, id);

	if (l)
		return l;
	if ((m->used + 1) * 10 > m->cap * 7 && grow(m))
		return NULL;
	size_t mask = m->cap - 1, i = (size_t)mix64(id) & mask;
	while (m->slots[i].flags)
		i = (i + 1) & mask;
	l = &m->slots[i];
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->flags = LOC_USED;
	m->used++;
	return l;
}

struct sseg *segtab_find(const struct segtab *t, uint64_t id)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->a[mid].id == id)
			return &t->a[mid];
		if (t->a[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Keeps the table sorted; ids normally arrive ascending (appended). */
int segtab_add(struct segtab *t, const struct sseg *s)
{
	size_t pos = t->n;

	if (segtab_find(t, s->id))
		return -EEXIST;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct sseg *a = realloc(t->a, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		t->a = a;
		t->cap = cap;
	}
	while (pos > 0 && t->a[pos - 1].id > s->id)
		pos--;
	memmove(&t->a[pos + 1], &t->a[pos], (t->n - pos) * sizeof(*t->a));
	t->a[pos] = *s;
	t->n++;
	return 0;
}
