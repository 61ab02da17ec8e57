/*
 * storage/dir_check.c - rvf_dir_check: both roots and the snapshot re-read
 * from disk, every segment's header and hash verified, and the block map
 * checked (no overlaps, everything inside the file, free + used = total).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/dir_internal.h"

/* ---- check ----------------------------------------------------------------------- */

struct ck_span {
	uint64_t start, end;
	const char *what;
	uint64_t id;
};

static int ck_cmp(const void *a, const void *b)
{
	const struct ck_span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

int rvf_dir_check(struct rvf_dir *d, struct rvf_dir_check_report *rep)
{
	struct rvf_dir_check_report r;
	struct root_pick rp;
	struct ck_span *sp;
	size_t ns = 0;
	uint64_t covered = 0;
	int err;

	if (!d)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.total_blocks = d->snap.total_blocks;
	err = dir_read_roots(d, &rp);
	if (err)
		return err;
	if (rp.status[d->snap.slot] || rp.slot[d->snap.slot].commit_seq < d->snap.seq) {
		log_error("%s: check: the root slot of commit %llu is no longer sound (%s)", d->path,
			  (unsigned long long)d->snap.seq, rp.why[d->snap.slot] ? rp.why[d->snap.slot] : "replaced");
		r.problems++;
	}
	if (!rp.status[d->snap.slot] && rp.slot[d->snap.slot].commit_seq == d->snap.seq) {
		/* the snapshot as it is on disk now, not as it was loaded */
		struct snap again;
		char why[160] = "";

		memset(&again, 0, sizeof(again));
		err = dir_load_snap(d, &rp.slot[d->snap.slot], d->snap.slot, &again, why, sizeof(why));
		if (err == -ENOMEM)
			return err;
		if (err) {
			log_error("%s: check: snapshot of commit %llu: %s", d->path,
				  (unsigned long long)d->snap.seq, why);
			r.problems++;
		}
		snap_release(&again);
	}
	if (rp.status[d->snap.slot ^ 1] && rp.status[d->snap.slot ^ 1] != -ENOENT)
		/* an older root torn by a crash is a state recovery allows (the
		 * next commit overwrites it): worth a note, not a problem */
		log_info("%s: check: the other root slot is not sound (%s)", d->path,
			 rp.why[d->snap.slot ^ 1] ? rp.why[d->snap.slot ^ 1] : "unreadable");
	sp = malloc((d->snap.nsegs + d->snap.nvidx + d->snap.nfree + 1) * sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	for (size_t i = 0; i < d->snap.nsegs; i++) {
		const struct rvf_meta_seg *e = &d->snap.segs[i];
		struct extent x = seg_extent(d, e);
		sp[ns++] = (struct ck_span){ x.start, x.start + x.count, "segment", e->segment_id };
		r.used_blocks += x.count;
		if (dir_read_entry(d, e, NULL, NULL))
			r.problems++;
		else
			r.bytes_verified += e->payload_len;
		r.segments++;
	}
	for (size_t i = 0; i < d->snap.nvidx; i++) {
		struct rvf_meta_seg s;
		meta_to_seg(&s, &d->snap.vidx[i]);
		struct extent x = seg_extent(d, &s);
		sp[ns++] = (struct ck_span){ x.start, x.start + x.count, "vector index", s.segment_id };
		r.used_blocks += x.count;
		if (dir_read_entry(d, &s, NULL, NULL))
			r.problems++;
		else
			r.bytes_verified += s.payload_len;
		r.vector_indexes++;
	}
	sp[ns++] = (struct ck_span){ d->snap.meta_ext.start, d->snap.meta_ext.start + d->snap.meta_ext.count,
				     "snapshot", d->snap.seq };
	r.used_blocks += d->snap.meta_ext.count;
	for (size_t i = 0; i < d->snap.nfree; i++) {
		const struct extent *f = &d->snap.free[i];
		sp[ns++] = (struct ck_span){ f->start, f->start + f->count, "free extent", i };
		r.free_blocks += f->count;
		if (i && f->start <= d->snap.free[i - 1].start + d->snap.free[i - 1].count) {
			log_error("%s: check: free list not sorted and coalesced at %zu", d->path, i);
			r.problems++;
		}
	}
	qsort(sp, ns, sizeof(*sp), ck_cmp);
	for (size_t i = 0; i < ns; i++) {
		if (sp[i].end > d->snap.total_blocks) {
			log_error("%s: check: %s %llu ends past total_blocks", d->path, sp[i].what,
				  (unsigned long long)sp[i].id);
			r.problems++;
		}
		if (i && sp[i].start < sp[i - 1].end) {
			log_error("%s: check: %s %llu overlaps %s %llu at block %llu", d->path,
				  sp[i].what, (unsigned long long)sp[i].id, sp[i - 1].what,
				  (unsigned long long)sp[i - 1].id, (unsigned long long)sp[i].start);
			r.problems++;
		}
		covered += sp[i].end - sp[i].start;
	}
	if (covered != d->snap.total_blocks || r.used_blocks + r.free_blocks != d->snap.total_blocks) {
		log_error("%s: check: used %llu + free %llu blocks != total %llu (leaked or double-counted)",
			  d->path, (unsigned long long)r.used_blocks, (unsigned long long)r.free_blocks,
			  (unsigned long long)d->snap.total_blocks);
		r.problems++;
	}
	free(sp);
	if (rep)
		*rep = r;
	return r.problems ? -EUCLEAN : 0;
}

