/*
 * storage/lock.h - cross-process locking with OFD fcntl locks on the data
 * file itself. OFD locks belong to the open file description: the kernel
 * drops them when the process dies, and closing another descriptor of the
 * same file in the same process does not drop them.
 *
 *   writer byte  exclusive while a transaction (or a hold_write_lock handle)
 *                is open; one writer across all processes.
 *   load byte    shared, held by a handle while it reads a root and loads
 *                the snapshot it names (before it knows which one to pin).
 *   pin bytes    shared, one byte per snapshot sequence (LOCK_SEQ_BASE +
 *                seq): held by every handle that may read its snapshot while
 *                another handle writes, and moved when it refreshes.
 *
 * A writer reuses freed blocks only when nobody is loading and nobody pins a
 * snapshot older than the newest committed one: blocks free in the newest
 * snapshot are then unreachable from every snapshot anyone reads. So a
 * long-lived reader that refreshes never stops reuse for long.
 */
#ifndef RVF_STORAGE_LOCK_H
#define RVF_STORAGE_LOCK_H

#include <stdint.h>

/* Wait up to timeout_ms (with backoff) for the writer lock; -EBUSY after. */
int lock_writer(int fd, uint32_t timeout_ms, const char *path);
void unlock_writer(int fd);
int lock_load(int fd);
void unlock_load(int fd);
/* Pin snapshot seq (seq < LOCK_SEQ_LIMIT) / drop that pin. */
#define LOCK_SEQ_LIMIT (1ull << 60)
int lock_pin_seq(int fd, uint64_t seq);
void unlock_pin_seq(int fd, uint64_t seq);
/* 1 if another open file description holds the load byte or pins a snapshot
 * older than seq, 0 if none, -errno. */
int lock_pins_below(int fd, uint64_t seq);

#endif
