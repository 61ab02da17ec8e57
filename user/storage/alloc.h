/*
 * storage/alloc.h - the block allocator: a sorted, coalesced list of free
 * extents below `total` blocks. Its state is part of every committed
 * snapshot; a transaction works on a clone.
 */
#ifndef RVF_STORAGE_ALLOC_H
#define RVF_STORAGE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

struct extent {
	uint64_t start;
	uint64_t count;
};

struct alloc {
	struct extent *free;   /* sorted by start, coalesced, all below total */
	size_t nfree;
	size_t cap;
	uint64_t total;        /* blocks in the data region */
};

/* Initialise from a snapshot's state (copies the list; validated by caller). */
int alloc_init(struct alloc *a, uint64_t total, const struct extent *free, size_t n);
int alloc_clone(struct alloc *dst, const struct alloc *src);
void alloc_release(struct alloc *a);

/* Allocate count contiguous blocks. With reuse, first fit from the free list
 * (or the free tail extended); without, always at the end of the region. */
int alloc_get(struct alloc *a, uint64_t count, int reuse, struct extent *out);

/* Return an extent; -EUCLEAN if it overlaps a free extent or lies past total. */
int alloc_put(struct alloc *a, struct extent e);

uint64_t alloc_free_blocks(const struct alloc *a);

/* Drop a free extent that ends the region, shrinking total; returns blocks cut. */
uint64_t alloc_trim_tail(struct alloc *a);

#endif
