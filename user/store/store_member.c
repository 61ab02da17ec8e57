/*
 * store/store_member.c - freeze and the membership filter (include/rvf/rvf.h).
 *
 * Freeze: STORE_F_FROZEN in the store header plus a freeze record (vector
 * index field 1: the state hash of the frozen content), one commit, after a
 * graph checkpoint covering everything. store_writable refuses every
 * mutator of a frozen store; store_checkpoint writes nothing for one.
 *
 * Membership: the member ids (sorted u64) and the mode live in one
 * MEMBERSHIP segment (MembershipHeader, filter_type IDSET), replaced in the
 * commit of every change. In memory they become a bitmap over the index's
 * internal ids (member_sync after every change of the index), which the
 * query passes to the HNSW traversal.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/log.h"
#include "codec/hash.h"
#include "store/store_internal.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool in_sorted(const uint64_t *a, size_t n, uint64_t id)
{
	return n && bsearch(&id, a, n, sizeof(*a), cmp_u64);
}

/* ---- freeze ------------------------------------------------------------------------ */

bool rvf_store_is_frozen(const struct rvf_store *s)
{
	return s && (s->hdr.flags & STORE_F_FROZEN);
}

int rvf_store_freeze(struct rvf_store *s)
{
	struct store_hdr old;
	struct freeze_rec rec;
	int err;

	if (!s)
		return -EINVAL;
	if (s->hdr.flags & STORE_F_FROZEN)
		return 0;
	if (s->readonly)
		return log_fail(-EROFS, "%s: freeze: store is open read-only", s->path);
	err = store_writable(s);
	if (err)
		return err;
	if (s->pending_vecs || s->pending_dels) {
		err = store_checkpoint(s);     /* the frozen file opens without catch-up */
		if (err)
			return err;
	}
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.magic, FREEZE_MAGIC, 8);
	rec.epoch = rvf_dir_generation(s->dir);
	err = rvf_store_state_hash(s, rec.state_hash);
	if (err)
		return log_fail(err, "%s: freeze: hashing the committed state: %s", s->path,
				rvf_strerror(err));
	rec.check = XXH3_64bits(&rec, offsetof(struct freeze_rec, check));
	old = s->hdr;
	s->hdr.flags |= STORE_F_FROZEN;
	s->hdr.frozen_epoch = rec.epoch;
	err = rvf_dir_write_vector_index(s->dir, FREEZE_FIELD, &rec, sizeof(rec));
	if (!err)
		err = store_hdr_put(s);
	err = err ? err : store_commit(s, "freeze");
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		return err;
	}
	store_version_bump(s);
	return 0;
}

/* The freeze record of a frozen store (checked). */
int freeze_read(const struct rvf_store *s, struct freeze_rec *rec)
{
	void *buf = NULL;
	size_t len = 0;
	int err = rvf_dir_read_vector_index(s->dir, FREEZE_FIELD, &buf, &len);

	if (err)
		return log_fail(err == -ENOENT ? -EUCLEAN : err, "%s: frozen store without a readable freeze record: %s",
				s->path, rvf_strerror(err));
	if (len != sizeof(*rec)) {
		free(buf);
		return log_fail(-EUCLEAN, "%s: freeze record has %zu bytes", s->path, len);
	}
	memcpy(rec, buf, sizeof(*rec));
	free(buf);
	if (memcmp(rec->magic, FREEZE_MAGIC, 8) || rec->reserved ||
	    rec->check != XXH3_64bits(rec, offsetof(struct freeze_rec, check)) ||
	    rec->epoch != s->hdr.frozen_epoch)
		return log_fail(-EUCLEAN, "%s: the freeze record is damaged or does not match the header",
				s->path);
	return 0;
}

/* ---- membership ------------------------------------------------------------------ */

void member_release(struct membership *m)
{
	free(m->ids);
	free(m->bits);
	memset(m, 0, sizeof(*m));
}

bool member_allows(const struct rvf_store *s, uint64_t id)
{
	const struct membership *m = &s->mem;

	if (!m->active)
		return true;
	return in_sorted(m->ids, m->n, id) == (m->mode == RVF_MEMBERSHIP_INCLUDE);
}

int member_sync(struct rvf_store *s)
{
	struct membership *m = &s->mem;
	size_t nb = s->h ? rvf_hnsw_count(s->h) : 0, words = (nb + 63) / 64, in = 0;
	uint64_t *bits;

	if (!m->active) {
		free(m->bits);
		m->bits = NULL;
		m->nbits = 0;
		m->allowed = 0;
		return 0;
	}
	bits = malloc((words ? words : 1) * 8);
	if (!bits)
		return -ENOMEM;
	memset(bits, m->mode == RVF_MEMBERSHIP_INCLUDE ? 0 : 0xff, words * 8);
	if (m->mode != RVF_MEMBERSHIP_INCLUDE && nb % 64)
		bits[words - 1] = (1ull << (nb % 64)) - 1;
	for (size_t i = 0; i < m->n; i++) {
		uint32_t iid;
		if (rvf_hnsw_id_of(s->h, m->ids[i], &iid))
			continue;
		if (m->mode == RVF_MEMBERSHIP_INCLUDE)
			bits[iid / 64] |= 1ull << (iid % 64);
		else
			bits[iid / 64] &= ~(1ull << (iid % 64));
		in += rvf_hnsw_contains(s->h, m->ids[i]) == 1;
	}
	free(m->bits);
	m->bits = bits;
	m->nbits = nb;
	m->allowed = m->mode == RVF_MEMBERSHIP_INCLUDE ? in : rvf_hnsw_live_count(s->h) - in;
	return 0;
}

static int member_decode(const struct rvf_store *s, uint64_t seg, const void *buf, size_t len,
			 struct membership *m)
{
	struct rvf_membership_hdr h;
	uint8_t hash[RVF_HASH_LEN];
	static const uint8_t zero[12];

	if (len < sizeof(h))
		goto bad;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != RVF_MEMBERSHIP_MAGIC || h.version != RVF_MEMBERSHIP_VERSION)
		goto bad;
	if (h.filter_type != RVF_MEMBERSHIP_IDSET)
		return log_fail(-ENOTSUP, "%s: MEMBERSHIP segment %llu: filter type %u is not supported",
				s->path, (unsigned long long)seg, h.filter_type);
	if (h.filter_mode > RVF_MEMBERSHIP_EXCLUDE || h.filter_offset != RVF_MEMBERSHIP_HDR_SIZE ||
	    h.member_count > (len - sizeof(h)) / 8 || h.filter_size != h.member_count * 8 ||
	    sizeof(h) + (uint64_t)h.filter_size != len || h.bloom_offset || h.bloom_size ||
	    memcmp(h.reserved, zero, sizeof(zero)))
		goto bad;
	if (sha256((const uint8_t *)buf + sizeof(h), h.filter_size, hash) ||
	    memcmp(hash, h.filter_hash, RVF_HASH_LEN))
		return log_fail(-EBADMSG, "%s: MEMBERSHIP segment %llu: filter_hash does not match the ids",
				s->path, (unsigned long long)seg);
	memset(m, 0, sizeof(*m));
	m->ids = malloc(h.member_count ? h.filter_size : 8);
	if (!m->ids)
		return -ENOMEM;
	memcpy(m->ids, (const uint8_t *)buf + sizeof(h), h.filter_size);
	m->n = h.member_count;
	for (size_t i = 1; i < m->n; i++)
		if (m->ids[i] <= m->ids[i - 1]) {
			member_release(m);
			goto bad;
		}
	m->active = true;
	m->own = true;
	m->mode = h.filter_mode;
	m->generation = h.generation_id;
	m->seg = seg;
	return 0;
bad:
	return log_fail(-EUCLEAN, "%s: MEMBERSHIP segment %llu is invalid", s->path, (unsigned long long)seg);
}

int member_load(struct rvf_store *s, const struct rvf_dir_segment *d)
{
	if (d) {
		struct membership m;
		void *buf = NULL;
		size_t len;
		int err = store_replay_read(s, s->dir, d, &buf, &len);

		if (!err)
			err = member_decode(s, d->id, buf, len, &m);
		free(buf);
		if (err)
			return err;
		member_release(&s->mem);
		s->mem = m;
	}
	return member_sync(s);
}

static int member_encode(const struct rvf_store *s, uint8_t mode, uint32_t gen, const uint64_t *ids,
			 size_t n, void **out, size_t *outlen)
{
	struct rvf_membership_hdr h;
	size_t len = sizeof(h) + n * 8;
	uint8_t *buf;

	if (n > UINT32_MAX / 8)
		return log_fail(-E2BIG, "%s: membership of %zu ids is too large", s->path, n);
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memset(&h, 0, sizeof(h));
	h.magic = RVF_MEMBERSHIP_MAGIC;
	h.version = RVF_MEMBERSHIP_VERSION;
	h.filter_type = RVF_MEMBERSHIP_IDSET;
	h.filter_mode = mode;
	h.vector_count = s->hdr.live + (store_is_cow(s) ? s->cow.base_live : 0);
	h.member_count = n;
	h.filter_offset = sizeof(h);
	h.filter_size = (uint32_t)(n * 8);
	h.generation_id = gen;
	if (sha256(ids, n * 8, h.filter_hash)) {
		free(buf);
		return -EIO;
	}
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), ids, n * 8);
	*out = buf;
	*outlen = len;
	return 0;
}

/* Commit a new member set (ids owned, sorted unique: taken) or, with
 * drop, no filter at all. */
static int member_commit(struct rvf_store *s, uint8_t mode, uint64_t *ids, size_t n, bool drop)
{
	struct store_hdr old = s->hdr;
	uint32_t gen = s->mem.generation + 1;
	uint64_t seg = 0;
	void *buf = NULL;
	size_t len = 0;
	int err = 0;

	if (!drop)
		err = member_encode(s, mode, gen, ids, n, &buf, &len);
	if (!err && !drop) {
		seg = s->hdr.next_seg_id;
		err = rvf_dir_write_segment(s->dir, seg, RVF_SEG_MEMBERSHIP, buf, len);
		s->hdr.next_seg_id = seg + 1;
	}
	if (!err && s->mem.seg && rvf_dir_remove_segments(s->dir, &s->mem.seg, 1) != 1)
		err = -EUCLEAN;
	if (!err)
		err = store_hdr_put(s);
	err = err ? err : store_commit(s, "membership");
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		free(ids);
		free(buf);
		return err;
	}
	store_version_bump(s);
	free(buf);
	if (s->mem.seg)
		segtab_remove(&s->segs, s->mem.seg);
	member_release(&s->mem);
	if (!drop) {
		s->mem.active = true;
		s->mem.own = true;
		s->mem.mode = mode;
		s->mem.ids = ids;
		s->mem.n = n;
		s->mem.generation = gen;
		s->mem.seg = seg;
		err = segtab_add_simple(s, seg, RVF_SEG_MEMBERSHIP, len);
	} else {
		free(ids);
		s->mem.generation = gen;
	}
	if (!err)
		err = member_sync(s);
	if (err) {
		s->broken = err;
		log_error("%s: membership committed but memory could not follow: %s; reopen the store",
			  s->path, rvf_strerror(err));
	}
	return err;
}

static uint64_t *ids_dup(const uint64_t *ids, size_t n)
{
	uint64_t *a = malloc((n ? n : 1) * 8);

	if (a && n)
		memcpy(a, ids, n * 8);
	return a;
}

int rvf_store_set_membership(struct rvf_store *s, enum rvf_membership_mode mode, const uint64_t *ids,
			     size_t n)
{
	uint64_t *a;
	int err = store_writable(s);

	if (err)
		return err;
	if ((unsigned)mode > RVF_MEMBERSHIP_EXCLUDE)
		return log_fail(-EINVAL, "%s: unknown membership mode %d", s->path, (int)mode);
	if (!ids && n)
		return log_fail(-EINVAL, "%s: membership: NULL id array", s->path);
	a = ids_dup(ids, n);
	if (!a)
		return -ENOMEM;
	n = ids_sort_unique(a, n);
	return member_commit(s, (uint8_t)mode, a, n, false);
}

/* add (true) or remove ids from the member set in the current mode. */
static int member_change(struct rvf_store *s, const uint64_t *ids, size_t n, bool add)
{
	const struct membership *m = &s->mem;
	uint64_t *a, *b;
	size_t k = 0;
	uint8_t mode;
	int err = store_writable(s);

	if (err)
		return err;
	if (!ids && n)
		return log_fail(-EINVAL, "%s: membership: NULL id array", s->path);
	mode = m->active ? m->mode : (add ? RVF_MEMBERSHIP_INCLUDE : RVF_MEMBERSHIP_EXCLUDE);
	/* with no filter, "remove" hides the ids: an exclude filter holding them */
	if (!m->active)
		add = true;
	b = ids_dup(ids, n);
	a = malloc((m->n + n + 1) * 8);
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	n = ids_sort_unique(b, n);
	for (size_t i = 0; m->active && i < m->n; i++)
		if (add || !in_sorted(b, n, m->ids[i]))
			a[k++] = m->ids[i];
	if (add) {
		memcpy(a + k, b, n * 8);
		k = ids_sort_unique(a, k + n);
	}
	free(b);
	return member_commit(s, mode, a, k, false);
}

int rvf_store_membership_add(struct rvf_store *s, const uint64_t *ids, size_t n)
{
	return member_change(s, ids, n, true);
}

int rvf_store_membership_remove(struct rvf_store *s, const uint64_t *ids, size_t n)
{
	return member_change(s, ids, n, false);
}

int rvf_store_clear_membership(struct rvf_store *s)
{
	int err = store_writable(s);

	if (err)
		return err;
	if (store_is_cow(s) && (s->mem.active || s->mem.seg)) {
		/* the parent's filter must no longer apply: exclude nothing */
		uint64_t *a = malloc(8);
		if (!a)
			return -ENOMEM;
		return member_commit(s, RVF_MEMBERSHIP_EXCLUDE, a, 0, false);
	}
	if (!s->mem.active)
		return 0;
	return member_commit(s, 0, NULL, 0, true);
}

int rvf_store_membership_filter(const struct rvf_store *s, struct rvf_membership_info *out)
{
	if (!s || !out)
		return -EINVAL;
	if (store_readable(s))
		return store_readable(s);
	if (!s->mem.active)
		return -ENOENT;
	out->mode = (enum rvf_membership_mode)s->mem.mode;
	out->generation = s->mem.generation;
	out->inherited = !s->mem.own;
	out->ids = s->mem.ids;
	out->n = s->mem.n;
	out->visible = s->mem.allowed;
	return 0;
}

int rvf_store_membership_bitmap(const struct rvf_store *s, const uint64_t **words, size_t *nbits)
{
	if (!s || !words || !nbits)
		return -EINVAL;
	if (store_readable(s))
		return store_readable(s);
	if (!s->mem.active)
		return -ENOENT;
	*words = s->mem.bits;
	*nbits = s->mem.nbits;
	return 0;
}
