/*
 * fuzz_craft.h - hostile store files made on purpose rather than found by a
 * fuzzer: a real store written with the library, then lengths rewritten and
 * every checksum resealed (fuzz_reseal.h), so only the lie is left.
 *
 * craft_far_segment: the newest snapshot's total_blocks grows to
 * CRAFT_TOTAL_BLOCKS and its first segment moves to CRAFT_FAR_BLOCK with a
 * payload_len of CRAFT_FAR_LEN (2 TiB). Every extent stays inside
 * total_blocks and disjoint from the others, so the snapshot decodes; the
 * segment ends far past the file. A reader that allocates the payload before
 * checking the extent against the file asks for 2 TiB.
 *
 * Used by tests/test_io_size.c and tests/fuzz/mkregress.c (which wrote
 * tests/fuzz/regress/fuzz_dir_open/dir-far-segment).
 */
#ifndef RVF_FUZZ_CRAFT_H
#define RVF_FUZZ_CRAFT_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_reseal.h"
#include "fuzz_util.h"
#include "rvf/dir.h"

#define CRAFT_FAR_LEN      (2ull << 40)
#define CRAFT_FAR_BLOCK    (1ull << 32)
#define CRAFT_TOTAL_BLOCKS (CRAFT_FAR_BLOCK + (1ull << 30))

/* The whole of path into *buf (owned; free()); 0 or -errno. */
static inline int craft_slurp(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		err = -errno;
	*len = err ? 0 : (size_t)st.st_size;
	*buf = err ? NULL : malloc(*len ? *len : 1);
	if (!err && !*buf)
		err = -ENOMEM;
	if (!err && pread(fd, *buf, *len, 0) != (ssize_t)*len)
		err = -EIO;
	close(fd);
	if (err) {
		free(*buf);
		*buf = NULL;
	}
	return err;
}

/* Rewrite the newest root's snapshot as described above; -EINVAL when the
 * file has no such root or its snapshot has no segment. */
static inline int craft_far_patch(uint8_t *p, size_t len)
{
	struct rvf_root_slot r[2];
	struct rvf_meta_hdr mh;
	uint64_t moff, v;
	int n;

	if (len < RVF_DATA_START)
		return -EINVAL;
	memcpy(&r[0], p, sizeof(r[0]));
	memcpy(&r[1], p + RVF_ROOT_SLOT_STRIDE, sizeof(r[1]));
	n = r[1].commit_seq > r[0].commit_seq;
	moff = RVF_DATA_START + r[n].meta_block * r[n].block_size;
	if (!reseal_inside(len, moff, r[n].meta_len) || r[n].meta_len < sizeof(mh) + 64)
		return -EINVAL;
	memcpy(&mh, p + moff, sizeof(mh));
	if (!mh.n_segments)
		return -EINVAL;
	v = CRAFT_TOTAL_BLOCKS;
	memcpy(p + moff + offsetof(struct rvf_meta_hdr, total_blocks), &v, 8);
	memcpy(p + n * RVF_ROOT_SLOT_STRIDE + offsetof(struct rvf_root_slot, total_blocks), &v, 8);
	v = CRAFT_FAR_BLOCK;
	memcpy(p + moff + sizeof(mh) + offsetof(struct rvf_meta_seg, start_block), &v, 8);
	v = CRAFT_FAR_LEN;
	memcpy(p + moff + sizeof(mh) + offsetof(struct rvf_meta_seg, payload_len), &v, 8);
	reseal_store(p, len);
	return 0;
}

/* A fresh store at path (created) with one committed segment, then patched. */
static inline int craft_far_segment(const char *path)
{
	static const char payload[100] = "a segment of a hundred bytes";
	struct rvf_dir *d = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	unlink(path);
	err = rvf_dir_create(path, NULL, &d);
	if (!err)
		err = rvf_dir_write_segment(d, 1, RVF_SEG_VEC, payload, sizeof(payload));
	if (!err)
		err = rvf_dir_commit(d);
	rvf_dir_close(d);
	if (!err)
		err = craft_slurp(path, &buf, &len);
	if (!err)
		err = craft_far_patch(buf, len);
	if (!err)
		fuzz_write(path, buf, len);
	free(buf);
	return err;
}

#endif
