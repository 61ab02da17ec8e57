/*
 * storage/dir_open.c - finding and recovering the newest commit: both root
 * slots read and checked, the snapshot of the newest sound root loaded (a
 * torn or damaged one falls back to the other root, invariant 3), pins and
 * refresh to a newer commit, and open / create / close of the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "common/log.h"
#include "storage/dir_internal.h"

#define DEFAULT_WRITE_TIMEOUT_MS 5000u

/* ---- loading a snapshot from disk ------------------------------------------ */

int dir_read_roots(struct rvf_dir *d, struct root_pick *rp)
{
	uint8_t buf[RVF_DATA_START];
	int err = io_pread(d->io, buf, sizeof(buf), 0);

	if (err == -ENODATA)
		return log_fail(-ENOEXEC, "%s: file is shorter than the rvf header (%u bytes); "
				"not an rvf store or truncated", d->path, RVF_DATA_START);
	if (err)
		return log_fail(err, "%s: cannot read root slots: %s", d->path, strerror(-err));
	for (int i = 0; i < 2; i++) {
		memcpy(&rp->slot[i], buf + (size_t)i * RVF_ROOT_SLOT_STRIDE, sizeof(rp->slot[i]));
		rp->status[i] = root_check(&rp->slot[i], i, &rp->why[i]);
	}
	return 0;
}

/* Read and decode the snapshot a sound root slot names. */
int dir_load_snap(struct rvf_dir *d, const struct rvf_root_slot *r, int slot, struct snap *out,
		  char *why, size_t whylen)
{
	int64_t fsz;
	uint8_t *buf;
	int err;

	if (r->meta_len < sizeof(struct rvf_meta_hdr) ||
	    r->meta_len > r->meta_nblocks * (uint64_t)r->block_size ||
	    r->meta_nblocks > r->total_blocks || r->meta_block > r->total_blocks - r->meta_nblocks) {
		snprintf(why, whylen, "root names a snapshot outside the file");
		return -EUCLEAN;
	}
	/* a root can be self-consistent and still lie about sizes: never
	 * allocate for a snapshot the file cannot hold */
	fsz = rvf_dir_file_size(d);
	if (fsz < 0) {
		snprintf(why, whylen, "cannot size the file: %s", strerror((int)-fsz));
		return (int)fsz;
	}
	if (!extent_in_file((uint64_t)fsz, r->block_size, r->meta_block, r->meta_len)) {
		snprintf(why, whylen, "snapshot lies past the end of the file (truncated)");
		return -EUCLEAN;
	}
	buf = malloc(r->meta_len);
	if (!buf)
		return -ENOMEM;
	err = io_pread(d->io, buf, r->meta_len, RVF_DATA_START + r->meta_block * r->block_size);
	if (err == -ENODATA) {
		snprintf(why, whylen, "snapshot lies past the end of the file (truncated)");
		err = -EUCLEAN;
	} else if (err) {
		snprintf(why, whylen, "cannot read snapshot: %s", strerror(-err));
	} else if (XXH3_64bits(buf, r->meta_len) != r->meta_hash) {
		snprintf(why, whylen, "snapshot checksum mismatch");
		err = -EBADMSG;
	} else {
		err = snap_decode(buf, r->meta_len, r->commit_seq, r->block_size,
				  (struct extent){ r->meta_block, r->meta_nblocks }, out, why, whylen);
		if (!err && out->total_blocks != r->total_blocks) {
			snprintf(why, whylen, "snapshot and root disagree on total_blocks");
			snap_release(out);
			err = -EUCLEAN;
		}
	}
	if (!err) {
		out->meta_hash = r->meta_hash;
		out->slot = slot;
	}
	free(buf);
	return err;
}

/*
 * Find the newest loadable snapshot. On success *out holds it and d's
 * geometry and max_seq are set. Errors name every reason a slot was refused.
 */
int dir_load_newest(struct rvf_dir *d, struct snap *out)
{
	struct root_pick rp;
	char why[2][160] = { "", "" };
	int order[2], err, tried = 0;

	err = dir_read_roots(d, &rp);
	if (err)
		return err;
	if (rp.status[0] == -ENOEXEC && rp.status[1] == -ENOEXEC) {
		uint8_t m[4];
		memcpy(m, &rp.slot[0], 4);
		if (!memcmp(m, "SFVR", 4))
			return log_fail(-ENOEXEC, "%s: this is a file written by the Rust RVF runtime, "
					"not an rvf store; convert it with `rvf import`", d->path);
		return log_fail(-ENOEXEC, "%s: not an rvf store (no root magic)", d->path);
	}
	for (int i = 0; i < 2; i++)
		if (rp.status[i] == -ENOTSUP)
			return log_fail(-ENOTSUP, "%s: root slot %c %s (format %u; this rvf reads %u)",
					d->path, 'A' + i, rp.why[i], rp.slot[i].format_version,
					RVF_FORMAT_VERSION);
	/* newest first */
	int first = rp.status[0] == 0 && (rp.status[1] || rp.slot[0].commit_seq > rp.slot[1].commit_seq) ? 0 : 1;
	order[0] = first;
	order[1] = first ^ 1;
	d->max_seq = 0;
	for (int i = 0; i < 2; i++)
		if (rp.status[i] == 0 && rp.slot[i].commit_seq > d->max_seq)
			d->max_seq = rp.slot[i].commit_seq;
	err = -EUCLEAN;
	for (int k = 0; k < 2; k++) {
		int i = order[k];
		if (rp.status[i]) {
			snprintf(why[i], sizeof(why[i]), "%s", rp.why[i]);
			continue;
		}
		tried++;
		err = dir_load_snap(d, &rp.slot[i], i, out, why[i], sizeof(why[i]));
		if (err == -ENOMEM)
			return err;
		if (!err) {
			const struct rvf_root_slot *r = &rp.slot[i];
			if (k == 1 && rp.status[order[0]] != -ENOEXEC)
				log_warn("%s: root slot %c refused (%s); recovered commit %llu from slot %c",
					 d->path, 'A' + order[0], why[order[0]],
					 (unsigned long long)r->commit_seq, 'A' + i);
			d->bs = r->block_size;
			memcpy(d->uuid, r->store_uuid, 16);
			d->created_ns = r->created_ns;
			if (r->ro_compat & ~RVF_RO_COMPAT_KNOWN && !d->readonly) {
				snap_release(out);
				return log_fail(-ENOTSUP, "%s: uses read-only-compatible features this rvf "
						"cannot write; open it read-only", d->path);
			}
			return 0;
		}
	}
	(void)tried;
	return log_fail(err == -EBADMSG ? -EBADMSG : -EUCLEAN,
			"%s: no valid root: slot A: %s; slot B: %s", d->path,
			why[0][0] ? why[0] : "not tried", why[1][0] ? why[1] : "not tried");
}


/*
 * Move this handle's pin to the snapshot it now sees (lock.h): the new pin is
 * taken before the old one goes, so the handle is never unpinned while it
 * can read. A sequence too large to pin keeps the load byte held instead,
 * which stops reuse altogether: safe, only wasteful. Handles that hold the
 * writer lock for life need no pin (no other writer exists).
 */
void dir_repin(struct rvf_dir *d)
{
	uint64_t seq = d->snap.seq;

	if (d->hold || (d->pinned && d->pin_seq == seq))
		return;
	if (lock_pin_seq(d->fd, seq) == 0) {
		if (d->pinned)
			unlock_pin_seq(d->fd, d->pin_seq);
		d->pinned = 1;
		d->pin_seq = seq;
		if (d->loading) {
			unlock_load(d->fd);
			d->loading = 0;
		}
		return;
	}
	if (!d->loading && lock_load(d->fd) == 0)
		d->loading = 1;
	if (!d->loading)
		log_warn("%s: cannot pin snapshot %llu; another writer may reuse its blocks",
			 d->path, (unsigned long long)seq);
}

/* Refresh to the newest commit if another handle has committed since. */
int dir_refresh(struct rvf_dir *d)
{
	struct root_pick rp;
	struct snap s;
	int err = dir_read_roots(d, &rp);

	if (err)
		return err;
	int cur = d->snap.slot;
	if (rp.status[cur] == 0 && rp.slot[cur].commit_seq == d->snap.seq &&
	    !(rp.status[cur ^ 1] == 0 && rp.slot[cur ^ 1].commit_seq > d->snap.seq))
		return 0;
	memset(&s, 0, sizeof(s));
	err = dir_load_newest(d, &s);
	if (err)
		return err;
	if (s.seq == d->snap.seq && s.slot == d->snap.slot) {
		snap_release(&s);
		return 0;
	}
	snap_release(&d->snap);
	d->snap = s;
	dir_repin(d);
	return 1;
}


int rvf_dir_refresh(struct rvf_dir *d)
{
	if (!d)
		return -EINVAL;
	if (d->txn.active)
		return -EBUSY;
	return dir_refresh(d);
}

/*
 * Plain pread(2) on the descriptor, not the I/O backend: a ring is not
 * thread-safe and this must be callable beside reads on other threads. It
 * touches no state of d (the fd is fixed for the handle's life).
 */
int rvf_dir_peek_generation(const struct rvf_dir *d, uint64_t *seq)
{
	uint64_t best = 0;

	if (!d || !seq)
		return -EINVAL;
	for (int i = 0; i < 2; i++) {
		struct rvf_root_slot r;
		const char *why;
		ssize_t n = pread(d->fd, &r, sizeof(r), (off_t)i * RVF_ROOT_SLOT_STRIDE);

		if (n < 0)
			return -errno;
		if ((size_t)n == sizeof(r) && root_check(&r, i, &why) == 0 && r.commit_seq > best)
			best = r.commit_seq;
	}
	if (!best)
		return -EUCLEAN;
	*seq = best;
	return 0;
}

int rvf_dir_reuse_blocked(struct rvf_dir *d)
{
	if (!d)
		return -EINVAL;
	return lock_pins_below(d->fd, d->snap.seq);
}


/* ---- open / create / close ------------------------------------------------------ */

static int dir_new(const char *path, const struct rvf_dir_opts *o, int readonly, struct rvf_dir **out)
{
	struct rvf_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->path = strdup(path);
	if (!d->path) {
		free(d);
		return -ENOMEM;
	}
	d->fd = -1;
	d->readonly = readonly;
	d->write_timeout_ms = o && o->write_timeout_ms ? o->write_timeout_ms : DEFAULT_WRITE_TIMEOUT_MS;
	*out = d;
	return 0;
}

void rvf_dir_close(struct rvf_dir *d)
{
	if (!d)
		return;
	if (d->txn.active)
		dir_txn_clear(d);
	io_close(d->io);
	if (d->fd >= 0)
		close(d->fd);   /* drops this description's OFD locks */
	snap_release(&d->snap);
	free(d->path);
	free(d);
}

/* Common tail of open and create: backend, locks, recovery. */
static int dir_attach(struct rvf_dir *d, const struct rvf_dir_opts *o)
{
	int err = io_open(d->fd, o ? o->io : RVF_IO_AUTO, &d->io);

	if (err)
		return log_fail(err, "%s: cannot set up I/O: %s", d->path, strerror(-err));
	if (!d->readonly && o && o->hold_write_lock) {
		err = lock_writer(d->fd, d->write_timeout_ms, d->path);
		if (err)
			return err;
		d->hold = 1;
	} else {
		/* hold the load byte until the snapshot read is pinned */
		err = lock_load(d->fd);
		if (err)
			return log_fail(err, "%s: cannot take a reader pin: %s", d->path, strerror(-err));
		d->loading = 1;
	}
	err = dir_load_newest(d, &d->snap);
	if (!err)
		dir_repin(d);
	return err;
}

static int open_common(const char *path, const struct rvf_dir_opts *o, int readonly, struct rvf_dir **out)
{
	struct rvf_dir *d = NULL;
	struct stat st;
	int err;

	if (!path || !*path || !out)
		return -EINVAL;
	err = dir_new(path, o, readonly, &d);
	if (err)
		return err;
	/* O_NONBLOCK: a FIFO at the path must not hang the open (refused below) */
	d->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (d->fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			log_error("%s: no such file", path);
		else if (err == -EACCES)
			log_error("%s: permission denied%s", path, readonly ? "" :
				  " (open it read-only if you only need to read)");
		else if (err == -EISDIR)
			log_error("%s: is a directory, not an rvf store", path);
		else
			log_error("%s: cannot open: %s", path, strerror(-err));
		goto fail;
	}
	if (fstat(d->fd, &st)) {
		err = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		err = log_fail(-EISDIR, "%s: is a directory, not an rvf store", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = log_fail(-EINVAL, "%s: not a regular file", path);
		goto fail;
	}
	if (fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) & ~O_NONBLOCK)) {
		err = -errno;
		goto fail;
	}
	if (st.st_size == 0) {
		err = log_fail(-ENOEXEC, "%s: empty file, not an rvf store", path);
		goto fail;
	}
	err = dir_attach(d, o);
	if (err)
		goto fail;
	*out = d;
	return 0;
fail:
	rvf_dir_close(d);
	return err;
}

int rvf_dir_open(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out)
{
	return open_common(path, o, 0, out);
}

int rvf_dir_open_readonly(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out)
{
	return open_common(path, o, 1, out);
}

/* Write the first commit (an empty snapshot in block 0, root slot A). */
static int write_initial(struct io *io, const char *path, uint32_t bs)
{
	struct snap s;
	struct rvf_root_slot root;
	uint8_t *buf;
	size_t len;
	int err;

	memset(&s, 0, sizeof(s));
	s.seq = 1;
	s.total_blocks = 1;
	s.commit_ns = now_realtime_ns();
	len = snap_encoded_size(0, 0, 0, 0);
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	snap_encode(&s, buf);
	memset(&root, 0, sizeof(root));
	root.format_version = RVF_FORMAT_VERSION;
	root.block_size = bs;
	root.slot_index = 0;
	root.commit_seq = 1;
	root.meta_block = 0;
	root.meta_nblocks = 1;
	root.meta_len = len;
	root.meta_hash = XXH3_64bits(buf, len);
	root.total_blocks = 1;
	if (getrandom(root.store_uuid, sizeof(root.store_uuid), 0) != sizeof(root.store_uuid)) {
		free(buf);
		return -errno;
	}
	root.created_ns = s.commit_ns;
	root_seal(&root);
	{
		struct iovec v = { .iov_base = buf, .iov_len = len };
		err = io->ops->commit(io, &v, 1, RVF_DATA_START, &root, sizeof(root), 0);
	}
	if (err)
		log_error("%s: writing the initial commit failed: %s", path, strerror(-err));
	free(buf);
	return err;
}

int rvf_dir_create(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out)
{
	struct rvf_dir *d = NULL;
	uint32_t bs = o && o->block_size ? o->block_size : RVF_DEFAULT_BLOCK_SIZE;
	mode_t mode = o && o->mode ? (mode_t)o->mode : 0644;
	char *tmp = NULL, *dcopy = NULL;
	struct io *io = NULL;
	int err;

	if (!path || !*path || !out)
		return -EINVAL;
	if (bs < RVF_MIN_BLOCK_SIZE || bs > RVF_MAX_BLOCK_SIZE || (bs & (bs - 1)))
		return log_fail(-EINVAL, "%s: block size %u is not a power of two in 4 KiB..1 MiB",
				path, bs);
	if (!access(path, F_OK))
		return log_fail(-EEXIST, "%s: already exists", path);
	err = dir_new(path, o, 0, &d);
	if (err)
		return err;
	/* Build the file where nobody can see it, then link it into place: a
	 * crash during create leaves no half-made store behind. */
	dcopy = strdup(path);
	if (!dcopy) {
		err = -ENOMEM;
		goto fail;
	}
	d->fd = open(dirname(dcopy), O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (d->fd < 0) {
		if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0) {
			tmp = NULL;
			err = -ENOMEM;
			goto fail;
		}
		d->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	}
	if (d->fd < 0) {
		err = -errno;
		log_error("%s: cannot create: %s", path, strerror(-err));
		goto fail;
	}
	/* one backend for the initial commit and the new name's sync, so a
	 * wrapper (the crash simulator) sees both */
	err = io_open(d->fd, o ? o->io : RVF_IO_AUTO, &io);
	err = err ? err : write_initial(io, path, bs);
	if (err)
		goto fail_tmp;
	if (tmp) {
		err = link(tmp, path) ? -errno : 0;
		unlink(tmp);
	} else {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", d->fd);
		err = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) ? -errno : 0;
	}
	if (err) {
		if (err == -EEXIST)
			log_error("%s: already exists", path);
		else
			log_error("%s: cannot create: %s", path, strerror(-err));
		goto fail;
	}
	err = io->ops->sync_parent(io, path);
	if (err) {
		/* the name may not survive a crash: the create did not happen */
		log_error("%s: fsync of the parent directory failed: %s", path, strerror(-err));
		unlink(path);
		goto fail;
	}
	io_close(io);
	io = NULL;
	err = dir_attach(d, o);
	if (err)
		goto fail;
	free(dcopy);
	free(tmp);
	*out = d;
	return 0;
fail_tmp:
	if (tmp)
		unlink(tmp);
fail:
	io_close(io);
	free(dcopy);
	free(tmp);
	rvf_dir_close(d);
	return err;
}

int rvf_dir_link(struct rvf_dir *d, const char *path)
{
	int err;

	if (!d || !path || !*path)
		return -EINVAL;
	if (d->readonly)
		return -EROFS;
	if (link(d->path, path)) {
		err = -errno;
		return log_fail(err, "%s: cannot create: %s", path, strerror(-err));
	}
	err = d->io->ops->sync_parent(d->io, path);
	if (err) {
		log_error("%s: fsync of the parent directory failed: %s", path, strerror(-err));
		unlink(path);
		return err;
	}
	return 0;
}

int rvf_dir_read_head(const char *path, void *buf, size_t len)
{
	struct io *io = NULL;
	int fd, err;

	if (!path || (!buf && len))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the syscall backend: a ring is not worth setting up for a peek */
	err = io_open(fd, RVF_IO_SYSCALL, &io);
	if (!err) {
		err = io_pread(io, buf, len, 0);
		io_close(io);
	}
	close(fd);
	return err;
}
