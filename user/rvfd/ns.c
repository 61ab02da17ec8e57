/*
 * rvfd/ns.c - the namespaces rvfd serves: each is one store file opened
 * read-only, and a watcher thread that picks up commits other processes
 * make to those files.
 *
 * The watcher also copies the userspace validator's counters into the
 * pinned counters map each turn (filter.c), for bpftool.
 *
 * Picking up a commit (every --poll-ms, 25 ms by default):
 *
 *   rvf_store_changed (two small preads, no lock, safe beside queries)
 *     false -> nothing to do
 *     true  -> write-lock d->lock; rvf_store_refresh (replays the new
 *              segments, or rebuilds after a compaction); unlock
 *              refresh failed -> open the file again read-only outside the
 *              lock and swap it in under the lock (a fresh open can succeed
 *              where a replay could not, and it clears a stale handle)
 *
 * Workers search under the read lock, so a query sees either the old state
 * or the new one, never a mix. A state that cannot be loaded at all keeps
 * the old one serving and is retried at the next poll.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "rvfd/rvfd.h"

static uint64_t load_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void store_u64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* The commit s serves (its epoch, the storage generation) and its live
 * vectors; both 0 when the status cannot be read. */
static void serving(const struct rvf_store *s, uint64_t *generation, uint64_t *live)
{
	struct rvf_store_status st;

	if (rvf_store_status(s, &st))
		memset(&st, 0, sizeof(st));
	*generation = st.epoch;
	*live = st.live_vectors;
}

int ns_open_all(struct rvfd *d)
{
	int rc = 0;

	for (size_t i = 0; i < d->n_ns; i++) {
		struct rvfd_ns *n = &d->ns[i];
		uint32_t dim;

		rc = rvf_store_open_readonly(n->path, NULL, &n->store);
		if (rc) {
			log_error("namespace %u: cannot open %s: %s%s%s", n->id, n->path, rvf_strerror(rc),
				  rvf_last_error()[0] ? " (" : "", rvf_last_error()[0] ? rvf_last_error() : "");
			goto fail;
		}
		dim = rvf_store_dimension(n->store);
		/* an f32 query must fit one datagram */
		if (dim > (RVF_WIRE_MAX_DATAGRAM - RVF_WIRE_QUERY_HDR_LEN) / 4) {
			rc = log_fail(-EINVAL, "namespace %u: %s has dimension %u; one UDP datagram carries "
				      "at most %u f32 values", n->id, n->path, dim,
				      (RVF_WIRE_MAX_DATAGRAM - RVF_WIRE_QUERY_HDR_LEN) / 4);
			goto fail;
		}
		n->shape = (struct rvf_wire_ns){ .dim = (uint16_t)dim, .elem_type = RVF_WIRE_ELEM_F32 };
		serving(n->store, &n->generation, &n->live);
	}
	return 0;
fail:
	ns_close_all(d);
	return rc;
}

void ns_close_all(struct rvfd *d)
{
	for (size_t i = 0; i < d->n_ns; i++) {
		rvf_store_close(d->ns[i].store);
		d->ns[i].store = NULL;
	}
}

const struct rvfd_ns *ns_find(const struct rvfd *d, uint32_t id)
{
	size_t lo = 0, hi = d->n_ns;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (d->ns[mid].id == id)
			return &d->ns[mid];
		if (d->ns[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Record that n now serves a newer commit. Called with d->lock held for
 * writing, so no query can answer from the new commit before the stats
 * say it was picked up. */
static void ns_note_commit(struct rvfd_ns *n)
{
	uint64_t generation, live;

	serving(n->store, &generation, &live);
	store_u64(&n->generation, generation);
	store_u64(&n->live, live);
	store_u64(&n->refreshes, load_u64(&n->refreshes) + 1);
}

/* Open the file again and swap it in: the fallback when a refresh fails. */
static int ns_reopen(struct rvfd *d, struct rvfd_ns *n)
{
	struct rvf_store *fresh = NULL, *old;
	int rc = rvf_store_open_readonly(n->path, NULL, &fresh);

	if (rc)
		return rc;
	if (rvf_store_dimension(fresh) != n->shape.dim) {
		/* the file was replaced by a store of another shape: keep serving
		 * the old one rather than answer with the wrong geometry */
		rvf_store_close(fresh);
		return log_fail(-EINVAL, "namespace %u: %s now has dimension %u (was %u); not "
				"picked up (restart rvfd to serve the new shape)", n->id, n->path,
				rvf_store_dimension(fresh), n->shape.dim);
	}
	pthread_rwlock_wrlock(&d->lock);
	old = n->store;
	n->store = fresh;
	ns_note_commit(n);
	pthread_rwlock_unlock(&d->lock);
	rvf_store_close(old);
	return 1;
}

/* One namespace: 1 when it moved to a newer commit, 0 when not, -errno when
 * the newer state could not be loaded (the old one keeps serving). */
static int ns_poll(struct rvfd *d, struct rvfd_ns *n)
{
	bool changed = false;
	int rc;

	rc = rvf_store_changed(n->store, &changed);
	if (rc < 0 || !changed)
		return rc;
	pthread_rwlock_wrlock(&d->lock);
	rc = rvf_store_refresh(n->store);
	if (rc > 0)
		ns_note_commit(n);
	pthread_rwlock_unlock(&d->lock);
	if (rc < 0) {
		log_warn("namespace %u: refresh of %s failed (%s); opening it again", n->id, n->path,
			 rvf_strerror(rc));
		rc = ns_reopen(d, n);
	}
	if (rc <= 0)
		return rc;
	log_info("namespace %u: picked up commit %llu of %s", n->id,
		 (unsigned long long)load_u64(&n->generation), n->path);
	return 1;
}

int ns_poll_once(struct rvfd *d)
{
	int moved = 0;

	for (size_t i = 0; i < d->n_ns; i++) {
		int rc = ns_poll(d, &d->ns[i]);

		if (rc > 0)
			moved++;
		else if (rc < 0)
			log_warn("namespace %u: a newer commit of %s is not served yet: %s (retrying)",
				 d->ns[i].id, d->ns[i].path, rvf_strerror(rc));
	}
	return moved;
}

static void *watcher_main(void *arg)
{
	struct rvfd *d = arg;

	for (;;) {
		struct pollfd p = { .fd = d->watch_stop_fd, .events = POLLIN };
		int n = poll(&p, 1, (int)d->poll_ms);

		struct rvf_wire_counters user;

		if (n > 0)
			break;
		ns_poll_once(d);
		stats_user_counters(d, &user);
		filter_publish_user(d, &user);
	}
	return NULL;
}

int ns_watcher_start(struct rvfd *d)
{
	int rc;

	d->watch_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (d->watch_stop_fd < 0)
		return log_fail(-errno, "eventfd: %s", strerror(errno));
	rc = pthread_create(&d->watcher, NULL, watcher_main, d);
	if (rc) {
		close(d->watch_stop_fd);
		d->watch_stop_fd = -1;
		return log_fail(-rc, "cannot start the store watcher thread: %s", strerror(rc));
	}
	d->watcher_started = true;
	return 0;
}

void ns_watcher_stop(struct rvfd *d)
{
	uint64_t one = 1;

	if (!d->watcher_started)
		return;
	if (write(d->watch_stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("watcher stop: %s", strerror(errno));
	pthread_join(d->watcher, NULL);
	d->watcher_started = false;
	close(d->watch_stop_fd);
	d->watch_stop_fd = -1;
}
