/*
 * store/prefetch.c - a reader thread for open: while the main thread
 * replays ids and metadata and then rebuilds the graph from its checkpoint,
 * this thread reads (and checksums) the checkpoint blob and then the VEC
 * segments the checkpoint needs, in id order, a few ahead of their use.
 *
 * It uses its own read-only dir handle (dir handles are not thread-safe) and
 * gives up (every take says -ENOENT, the caller reads for itself) if that
 * handle does not see the same commit as the store's. Segment ids never name
 * different contents, so a buffer it hands over is the right one.
 *
 * Queue: a ring of PF_DEPTH slots; produced/consumed are counters under mu.
 * Buffers go back to the thread through prefetch_recycle and are reused:
 * fresh allocations of this size are mmap'd and zeroed by the kernel page
 * by page, which cost more than the reads. Reads into a reused buffer use
 * rvf_dir_read_segment_range and check the segment's XXH3-128 here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "store/store_internal.h"

#define PF_DEPTH 6
#define PF_POOL  (PF_DEPTH + 8)

struct pf_slot {
	uint64_t id;
	void *buf;
	size_t len, cap;
	int err;
};

struct pf_buf { void *p; size_t cap; };

struct prefetch {
	pthread_t th;
	struct rvf_dir_opts dopt;
	char *path;
	uint64_t generation;
	bool want_ckpt;
	uint64_t *ids;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool dead;                  /* not usable: takes return -ENOENT */
	bool stop;
	bool ckpt_ready, ckpt_taken;
	void *ckpt;
	size_t ckpt_len;
	int ckpt_err;
	struct pf_slot q[PF_DEPTH];
	size_t produced, consumed;  /* segments; slot = counter % PF_DEPTH */
	struct pf_buf pool[PF_POOL];    /* recycled buffers */
	size_t npool;
};

/* A buffer of at least len bytes, 64-byte aligned: recycled if one fits. */
static void *pf_get_buf(struct prefetch *p, size_t len, size_t *cap)
{
	void *b = NULL;

	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->npool; i++)
		if (p->pool[i].cap >= len) {
			b = p->pool[i].p;
			*cap = p->pool[i].cap;
			p->pool[i] = p->pool[--p->npool];
			break;
		}
	pthread_mutex_unlock(&p->mu);
	if (b)
		return b;
	*cap = len ? len : 1;
	return posix_memalign(&b, 64, *cap) ? NULL : b;
}

/* Read segment id into a (reused) buffer and check its content hash. */
static int pf_read(struct prefetch *p, struct rvf_dir *d, struct pf_slot *s)
{
	struct rvf_dir_segment info;
	XXH128_canonical_t c;
	int64_t fsz;
	int err = rvf_dir_segment_info(d, s->id, &info);

	if (err)
		return err;
	/* the buffer comes before the read that would refuse a length the
	 * file cannot hold, so refuse it here (file_offset is inside the
	 * committed extent, so the sums cannot overflow) */
	fsz = rvf_dir_file_size(d);
	if (fsz < 0)
		return (int)fsz;
	if (info.file_offset > (uint64_t)fsz ||
	    (uint64_t)fsz - info.file_offset < RVF_SEG_HEADER_SIZE ||
	    info.payload_len > (uint64_t)fsz - info.file_offset - RVF_SEG_HEADER_SIZE)
		return -EUCLEAN;
	if (info.payload_len > SIZE_MAX / 2)
		return -ENOMEM;
	s->buf = pf_get_buf(p, (size_t)info.payload_len, &s->cap);
	if (!s->buf)
		return -ENOMEM;
	s->len = (size_t)info.payload_len;
	err = rvf_dir_read_segment_range(d, s->id, 0, s->buf, s->len);
	if (err)
		return err;
	XXH128_canonicalFromHash(&c, XXH3_128bits(s->buf, s->len));
	return memcmp(c.digest, info.content_hash, 16) ? -EBADMSG : 0;
}

void prefetch_recycle(struct prefetch *p, void *buf, size_t cap)
{
	if (!buf)
		return;
	if (p) {
		pthread_mutex_lock(&p->mu);
		if (p->npool < PF_POOL) {
			p->pool[p->npool++] = (struct pf_buf){ buf, cap };
			buf = NULL;
		}
		pthread_mutex_unlock(&p->mu);
	}
	free(buf);
}

static void *pf_main(void *arg)
{
	struct prefetch *p = arg;
	struct rvf_dir *d = NULL;
	int err = rvf_dir_open_readonly(p->path, &p->dopt, &d);

	pthread_mutex_lock(&p->mu);
	if (err || rvf_dir_generation(d) != p->generation) {
		p->dead = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		rvf_dir_close(d);
		return NULL;
	}
	pthread_mutex_unlock(&p->mu);
	if (p->want_ckpt) {
		void *buf = NULL;
		size_t len = 0;
		err = rvf_dir_read_vector_index(d, CKPT_FIELD, &buf, &len);
		pthread_mutex_lock(&p->mu);
		p->ckpt = buf;
		p->ckpt_len = len;
		p->ckpt_err = err;
		p->ckpt_ready = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	for (size_t i = 0; i < p->n; i++) {
		struct pf_slot s = { .id = p->ids[i] };
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->produced - p->consumed >= PF_DEPTH)
			pthread_cond_wait(&p->cv, &p->mu);
		bool stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		s.err = pf_read(p, d, &s);
		pthread_mutex_lock(&p->mu);
		p->q[p->produced % PF_DEPTH] = s;
		p->produced++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	rvf_dir_close(d);
	return NULL;
}

int prefetch_start(const char *path, const struct rvf_dir_opts *dopt, uint64_t generation,
		   bool want_ckpt, const uint64_t *ids, size_t n, struct prefetch **out)
{
	struct prefetch *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->path = strdup(path);
	p->ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!p->path || !p->ids) {
		free(p->path);
		free(p->ids);
		free(p);
		return -ENOMEM;
	}
	memcpy(p->ids, ids, n * sizeof(*ids));
	p->n = n;
	p->dopt = *dopt;
	p->dopt.hold_write_lock = 0;
	p->generation = generation;
	p->want_ckpt = want_ckpt;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->th, NULL, pf_main, p)) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		free(p->path);
		free(p->ids);
		free(p);
		return -EAGAIN;
	}
	*out = p;
	return 0;
}

int prefetch_take_ckpt(struct prefetch *p, void **buf, size_t *len)
{
	int err;

	if (!p || !p->want_ckpt)
		return -ENOENT;
	pthread_mutex_lock(&p->mu);
	while (!p->dead && !p->ckpt_ready)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->dead || p->ckpt_taken || p->ckpt_err) {
		err = -ENOENT;
	} else {
		*buf = p->ckpt;
		*len = p->ckpt_len;
		p->ckpt = NULL;
		err = 0;
	}
	p->ckpt_taken = true;
	pthread_mutex_unlock(&p->mu);
	return err;
}

int prefetch_take(struct prefetch *p, uint64_t id, void **buf, size_t *len, size_t *cap)
{
	int err = -ENOENT;

	if (!p)
		return -ENOENT;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->dead || p->consumed >= p->n)
			break;
		uint64_t next = p->ids[p->consumed];
		if (next > id)
			break;                      /* behind the queue: read it yourself */
		while (!p->dead && p->produced == p->consumed)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->dead)
			break;
		struct pf_slot *s = &p->q[p->consumed % PF_DEPTH];
		p->consumed++;
		pthread_cond_broadcast(&p->cv);
		if (next < id || s->err) {          /* skipped, or failed: read it yourself */
			if (s->buf && p->npool < PF_POOL)
				p->pool[p->npool++] = (struct pf_buf){ s->buf, s->cap };
			else
				free(s->buf);
			s->buf = NULL;
			if (next < id)
				continue;
			break;
		}
		*buf = s->buf;
		*len = s->len;
		*cap = s->cap;
		s->buf = NULL;
		err = 0;
		break;
	}
	pthread_mutex_unlock(&p->mu);
	return err;
}

void prefetch_stop(struct prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	for (size_t i = p->consumed; i < p->produced; i++)
		free(p->q[i % PF_DEPTH].buf);
	for (size_t i = 0; i < p->npool; i++)
		free(p->pool[i].p);
	free(p->ckpt);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->path);
	free(p->ids);
	free(p);
}
