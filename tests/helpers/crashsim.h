/*
 * crashsim.h - a fault-injecting, crash-simulating wrapper around rvf's I/O
 * backend (installed with io_set_wrapper, so it sits under every handle
 * opened while installed).
 *
 * Writes are held in memory until the next sync, as a disk cache would hold
 * them; reads see them. Each write and each sync is an "op", numbered from 1.
 *
 *   crash_at = N   at op N the machine "loses power": every write made
 *                  durable by an earlier sync stays; each write since
 *                  (op N's own included) independently reaches the file
 *                  whole, not at all, or torn (a prefix cut at a sector
 *                  boundary or at any byte). Every later op fails with -EIO.
 *
 * A truncate counts as a write (at a crash it happened or not, at random),
 * the parent directory's fsync (a new file name made durable) as a sync.
 *
 * The commit goes through io_commit_steps (the syscall backend's sequence),
 * so the simulator sees the order a backend uses.
 *   fail_at = N    op N fails with -EIO (a sync failure also drops the held
 *                  writes, as Linux may after a failed fsync), later ops
 *                  work normally.
 */
#ifndef RVF_CRASHSIM_H
#define RVF_CRASHSIM_H

#include <stdint.h>

struct crashsim {
	uint64_t crash_at;
	uint64_t fail_at;
	uint64_t seed;
	/* results */
	uint64_t ops;
	uint64_t writes;
	uint64_t syncs;
	int crashed;
	int failed;
};

/* Install (cs borrowed; must outlive every handle opened meanwhile). */
void crashsim_install(struct crashsim *cs);
void crashsim_uninstall(void);

#endif
