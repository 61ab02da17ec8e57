/*
 * storage/alloc.c - first-fit extent allocator over a sorted free list.
 *
 * Invariants: free extents are sorted by start, never adjacent (coalesced),
 * never empty, and lie below total. alloc_put refuses anything that would
 * break them, so a double free shows up as -EUCLEAN instead of a silent
 * double allocation later.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/alloc.h"

static int reserve(struct alloc *a, size_t n)
{
	if (n <= a->cap)
		return 0;
	size_t cap = a->cap ? a->cap * 2 : 16;
	while (cap < n)
		cap *= 2;
	struct extent *p = realloc(a->free, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	a->free = p;
	a->cap = cap;
	return 0;
}

int alloc_init(struct alloc *a, uint64_t total, const struct extent *free, size_t n)
{
	memset(a, 0, sizeof(*a));
	a->total = total;
	if (reserve(a, n ? n : 1))
		return -ENOMEM;
	if (n)
		memcpy(a->free, free, n * sizeof(*free));
	a->nfree = n;
	return 0;
}

int alloc_clone(struct alloc *dst, const struct alloc *src)
{
	return alloc_init(dst, src->total, src->free, src->nfree);
}

void alloc_release(struct alloc *a)
{
	if (!a)
		return;
	free(a->free);
	memset(a, 0, sizeof(*a));
}

static void remove_at(struct alloc *a, size_t i)
{
	memmove(&a->free[i], &a->free[i + 1], (a->nfree - i - 1) * sizeof(*a->free));
	a->nfree--;
}

int alloc_get(struct alloc *a, uint64_t count, int reuse, struct extent *out)
{
	if (count == 0)
		return -EINVAL;
	if (reuse) {
		for (size_t i = 0; i < a->nfree; i++) {
			struct extent *f = &a->free[i];
			if (f->count >= count) {
				out->start = f->start;
				out->count = count;
				f->start += count;
				f->count -= count;
				if (f->count == 0)
					remove_at(a, i);
				return 0;
			}
		}
		/* a free tail can be extended in place */
		if (a->nfree) {
			struct extent *last = &a->free[a->nfree - 1];
			if (last->start + last->count == a->total) {
				out->start = last->start;
				out->count = count;
				a->total = last->start + count;
				remove_at(a, a->nfree - 1);
				return 0;
			}
		}
	}
	if (a->total > UINT64_MAX / 2 - count)
		return -ENOSPC;
	out->start = a->total;
	out->count = count;
	a->total += count;
	return 0;
}

int alloc_put(struct alloc *a, struct extent e)
{
	size_t lo = 0, hi = a->nfree;

	if (e.count == 0)
		return 0;
	if (e.start + e.count < e.start || e.start + e.count > a->total)
		return -EUCLEAN;
	/* first free extent with start > e.start */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a->free[mid].start <= e.start)
			lo = mid + 1;
		else
			hi = mid;
	}
	struct extent *prev = lo ? &a->free[lo - 1] : NULL;
	struct extent *next = lo < a->nfree ? &a->free[lo] : NULL;
	if (prev && prev->start + prev->count > e.start)
		return -EUCLEAN;
	if (next && e.start + e.count > next->start)
		return -EUCLEAN;
	int join_prev = prev && prev->start + prev->count == e.start;
	int join_next = next && e.start + e.count == next->start;
	if (join_prev && join_next) {
		prev->count += e.count + next->count;
		remove_at(a, lo);
	} else if (join_prev) {
		prev->count += e.count;
	} else if (join_next) {
		next->start = e.start;
		next->count += e.count;
	} else {
		if (reserve(a, a->nfree + 1))
			return -ENOMEM;
		memmove(&a->free[lo + 1], &a->free[lo], (a->nfree - lo) * sizeof(*a->free));
		a->free[lo] = e;
		a->nfree++;
	}
	return 0;
}

uint64_t alloc_free_blocks(const struct alloc *a)
{
	uint64_t n = 0;

	for (size_t i = 0; i < a->nfree; i++)
		n += a->free[i].count;
	return n;
}

uint64_t alloc_trim_tail(struct alloc *a)
{
	if (!a->nfree)
		return 0;
	struct extent *last = &a->free[a->nfree - 1];
	if (last->start + last->count != a->total)
		return 0;
	uint64_t cut = last->count;
	a->total = last->start;
	a->nfree--;
	return cut;
}
