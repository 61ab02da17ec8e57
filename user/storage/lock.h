/*
 * storage/lock.h - cross-process locking with OFD fcntl locks on the data
 * file itself. OFD locks belong to the open file description: the kernel
 * drops them when the process dies, and closing another descriptor of the
 * same file in the same process does not drop them.
 *
 *   writer byte  exclusive while a transaction (or a hold_write_lock handle)
 *                is open; one writer across all processes.
 *   pin byte     shared, held by every handle that may read a snapshot while
 *                another handle writes. A writer that sees a pin does not
 *                reuse freed blocks, so pinned snapshots stay readable.
 */
#ifndef RVF_STORAGE_LOCK_H
#define RVF_STORAGE_LOCK_H

#include <stdint.h>

/* Wait up to timeout_ms (with backoff) for the writer lock; -EBUSY after. */
int lock_writer(int fd, uint32_t timeout_ms, const char *path);
void unlock_writer(int fd);
int lock_pin(int fd);
/* 1 if some other open file description holds a pin, 0 if none, -errno. */
int lock_pins_present(int fd);

#endif
