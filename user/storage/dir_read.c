/*
 * storage/dir_read.c - reads from the snapshot a handle sees: segments
 * (whole, ranges, verification), vector indexes, user metadata, the segment
 * table, and the handle's accessors. Every whole read checks the segment
 * header and its content hash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/dir_internal.h"

/* ---- reading -------------------------------------------------------------------- */

/*
 * The entry's checksums can all be true and its length still a lie (a
 * crafted file, or a flip resealed): a segment must lie inside the file
 * before anything is allocated or read for it. -EUCLEAN when it does not.
 */
static int entry_in_file(struct rvf_dir *d, const struct rvf_meta_seg *e)
{
	int64_t fsz = rvf_dir_file_size(d);

	if (fsz < 0)
		return log_fail((int)fsz, "%s: cannot size the file: %s", d->path, strerror((int)-fsz));
	if (e->payload_len > UINT64_MAX - RVF_SEG_HEADER_SIZE ||
	    !extent_in_file((uint64_t)fsz, d->bs, e->start_block, RVF_SEG_HEADER_SIZE + e->payload_len))
		return log_fail(-EUCLEAN, "%s: segment %llu (%llu bytes at block %llu) lies past the "
				"end of the file (%lld bytes; truncated or damaged)", d->path,
				(unsigned long long)e->segment_id, (unsigned long long)e->payload_len,
				(unsigned long long)e->start_block, (long long)fsz);
	return 0;
}

int dir_read_entry(struct rvf_dir *d, const struct rvf_meta_seg *e, void **out, size_t *outlen)
{
	struct rvf_seg_hdr want, got;
	uint8_t hash[16];
	void *buf = NULL;
	int err;

	err = entry_in_file(d, e);
	if (err)
		return err;
	if (e->payload_len > SIZE_MAX - 64)
		return -ENOMEM;
	if (posix_memalign(&buf, 64, e->payload_len ? e->payload_len : 1))
		return -ENOMEM;
	struct iovec v[2] = {
		{ .iov_base = &got, .iov_len = sizeof(got) },
		{ .iov_base = buf, .iov_len = e->payload_len },
	};
	err = d->io->ops->preadv(d->io, v, 2, blk_off(d, e->start_block));
	if (err) {
		free(buf);
		if (err == -ENODATA)
			return log_fail(-EUCLEAN, "%s: segment %llu lies past the end of the file "
					"(truncated)", d->path, (unsigned long long)e->segment_id);
		return log_fail(err, "%s: reading segment %llu: %s", d->path,
				(unsigned long long)e->segment_id, strerror(-err));
	}
	seg_hdr_from_entry(&want, e);
	if (memcmp(&want, &got, sizeof(want))) {
		free(buf);
		return log_fail(-EBADMSG, "%s: segment %llu header does not match the directory "
				"(damaged or overwritten)", d->path, (unsigned long long)e->segment_id);
	}
	struct iovec pv = { .iov_base = buf, .iov_len = e->payload_len };
	dir_hash128(&pv, 1, hash);
#ifdef RVF_MUTANT_NO_SEGMENT_HASH
	memcpy(hash, e->content_hash, 16);   /* mutant (make mutants): trust the payload */
#endif
	if (memcmp(hash, e->content_hash, 16)) {
		free(buf);
		return log_fail(-EBADMSG, "%s: segment %llu (type 0x%02x, %llu bytes) checksum "
				"mismatch", d->path, (unsigned long long)e->segment_id, e->seg_type,
				(unsigned long long)e->payload_len);
	}
	if (out) {
		*out = buf;
		*outlen = e->payload_len;
	} else {
		free(buf);
	}
	return 0;
}

int rvf_dir_read_segment(struct rvf_dir *d, uint64_t id, void **buf, size_t *len)
{
	const struct rvf_meta_seg *e;

	if (!d || !buf || !len)
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	return dir_read_entry(d, e, buf, len);
}

int rvf_dir_verify_segment(struct rvf_dir *d, uint64_t id)
{
	const struct rvf_meta_seg *e;

	if (!d)
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	return dir_read_entry(d, e, NULL, NULL);
}

int rvf_dir_read_segment_range(struct rvf_dir *d, uint64_t id, uint64_t off, void *buf, size_t len)
{
	const struct rvf_meta_seg *e;
	int err;

	if (!d || (len && !buf))
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	if (off > e->payload_len || len > e->payload_len - off)
		return -ERANGE;
	if (!len)
		return 0;
	/* the whole segment, not just the range: callers size buffers by the
	 * entry's payload_len after reading its header */
	err = entry_in_file(d, e);
	if (err)
		return err;
	err = io_pread(d->io, buf, len, blk_off(d, e->start_block) + RVF_SEG_HEADER_SIZE + off);
	if (err == -ENODATA)
		return log_fail(-EUCLEAN, "%s: segment %llu lies past the end of the file",
				d->path, (unsigned long long)id);
	return err;
}

static void fill_public(const struct rvf_dir *d, struct rvf_dir_segment *o, const struct rvf_meta_seg *e)
{
	memset(o, 0, sizeof(*o));
	o->id = e->segment_id;
	o->type = e->seg_type;
	o->flags = e->flags;
	o->payload_len = e->payload_len;
	o->generation = e->generation;
	o->timestamp_ns = e->timestamp_ns;
	o->file_offset = blk_off(d, e->start_block);
	memcpy(o->content_hash, e->content_hash, 16);
}

int rvf_dir_segments(struct rvf_dir *d, struct rvf_dir_segment **out, size_t *n)
{
	struct rvf_dir_segment *a = NULL;

	if (!d || !out || !n)
		return -EINVAL;
	if (d->snap.nsegs) {
		a = malloc(d->snap.nsegs * sizeof(*a));
		if (!a)
			return -ENOMEM;
		for (size_t i = 0; i < d->snap.nsegs; i++)
			fill_public(d, &a[i], &d->snap.segs[i]);
	}
	*out = a;
	*n = d->snap.nsegs;
	return 0;
}

int rvf_dir_segment_info(struct rvf_dir *d, uint64_t id, struct rvf_dir_segment *out)
{
	const struct rvf_meta_seg *e;

	if (!d || !out)
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	fill_public(d, out, e);
	return 0;
}

int rvf_dir_segment_header(struct rvf_dir *d, uint64_t id, struct rvf_seg_hdr *h)
{
	const struct rvf_meta_seg *e;

	if (!d || !h)
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	seg_hdr_from_entry(h, e);
	return 0;
}

int rvf_dir_read_vector_index(struct rvf_dir *d, uint32_t field, void **buf, size_t *len)
{
	const struct rvf_meta_vindex *v;
	struct rvf_meta_seg s;

	if (!d || !buf || !len)
		return -EINVAL;
	v = find_vidx(d->snap.vidx, d->snap.nvidx, field);
	if (!v)
		return -ENOENT;
	meta_to_seg(&s, v);
	return dir_read_entry(d, &s, buf, len);
}

int rvf_dir_vector_index_fields(struct rvf_dir *d, uint32_t **fields, size_t *n)
{
	uint32_t *a = NULL;

	if (!d || !fields || !n)
		return -EINVAL;
	if (d->snap.nvidx) {
		a = malloc(d->snap.nvidx * sizeof(*a));
		if (!a)
			return -ENOMEM;
		for (size_t i = 0; i < d->snap.nvidx; i++)
			a[i] = d->snap.vidx[i].field_id;
	}
	*fields = a;
	*n = d->snap.nvidx;
	return 0;
}

int rvf_dir_user_metadata(struct rvf_dir *d, void **data, size_t *len)
{
	if (!d || !data || !len)
		return -EINVAL;
	*data = NULL;
	*len = d->snap.user_len;
	if (d->snap.user_len) {
		*data = malloc(d->snap.user_len);
		if (!*data)
			return -ENOMEM;
		memcpy(*data, d->snap.user, d->snap.user_len);
	}
	return 0;
}


uint64_t rvf_dir_generation(const struct rvf_dir *d) { return d ? d->snap.seq : 0; }
uint64_t rvf_dir_total_blocks(const struct rvf_dir *d) { return d ? d->snap.total_blocks : 0; }
uint32_t rvf_dir_block_size(const struct rvf_dir *d) { return d ? d->bs : 0; }
const char *rvf_dir_path(const struct rvf_dir *d) { return d ? d->path : NULL; }
const uint8_t *rvf_dir_uuid(const struct rvf_dir *d) { return d ? d->uuid : NULL; }
int rvf_dir_is_readonly(const struct rvf_dir *d) { return d ? d->readonly : 1; }
int rvf_dir_poisoned(const struct rvf_dir *d) { return d ? d->poison : 0; }
const char *rvf_dir_io_name(const struct rvf_dir *d) { return d && d->io ? d->io->ops->name : NULL; }

uint64_t rvf_dir_free_block_count(const struct rvf_dir *d)
{
	uint64_t n = 0;

	if (!d)
		return 0;
	for (size_t i = 0; i < d->snap.nfree; i++)
		n += d->snap.free[i].count;
	return n;
}

int64_t rvf_dir_file_size(const struct rvf_dir *d)
{
	uint64_t size;
	int err;

	if (!d || !d->io)
		return -EINVAL;
	/* through the backend: a wrapper that holds writes counts them */
	err = d->io->ops->size(d->io, &size);
	if (err)
		return err;
	return size > INT64_MAX ? -EOVERFLOW : (int64_t)size;
}

void rvf_dir_set_write_timeout(struct rvf_dir *d, uint32_t ms)
{
	if (d)
		d->write_timeout_ms = ms;
}

