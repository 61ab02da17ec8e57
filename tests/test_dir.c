/*
 * test_dir.c - unit tests for the single-file directory (include/rvf/dir.h):
 * every API call, reader pins and refresh, the I/O backend choice,
 * rvf_dir_check after damage.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rvf/dir.h"
#include "crashsim.h"
#include "testutil.h"
#include "dir_fixture.h"

/* ------------------------------------------------------------------------- */

static void create_open_roundtrip(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	struct rvf_dir_segment *segs = NULL;
	size_t n = 0;
	uint32_t *fields = NULL;
	void *um = NULL;
	size_t ulen = 0;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_generation(d), 1);
	df_put(d, 7, RVF_SEG_VEC, 1000, 70);
	df_put(d, 3, RVF_SEG_META, 0, 30);
	df_put(d, 0xF3F3F3F3F3ull, 0xF3, 5000, 99);
	assert_int_equal(rvf_dir_write_vector_index(d, 2, "graph", 5), 0);
	assert_int_equal(rvf_dir_set_user_metadata(d, "hello", 5), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_generation(d), 2);
	rvf_dir_close(d);

	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_generation(d), 2);
	assert_int_equal(rvf_dir_segments(d, &segs, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(segs[0].id, 3);
	assert_int_equal(segs[1].id, 7);
	assert_int_equal(segs[2].type, 0xF3);
	assert_int_equal(segs[2].generation, 2);
	assert_int_equal(segs[1].file_offset % 64, 0);
	free(segs);
	df_expect_segment(d, 7, 1000, 70);
	df_expect_segment(d, 3, 0, 30);
	df_expect_segment(d, 0xF3F3F3F3F3ull, 5000, 99);
	assert_int_equal(rvf_dir_vector_index_fields(d, &fields, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fields[0], 2);
	free(fields);
	assert_int_equal(rvf_dir_user_metadata(d, &um, &ulen), 0);
	assert_int_equal(ulen, 5);
	assert_memory_equal(um, "hello", 5);
	free(um);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	assert_non_null(rvf_dir_io_name(d));
	rvf_dir_close(d);
}

/* ---- I/O backend selection ---------------------------------------------- */

static char warn_seen[512];

static void keep_warnings(void *ctx, enum rvf_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= RVF_LOG_WARN && !warn_seen[0])
		snprintf(warn_seen, sizeof(warn_seen), "%s", msg);
}

/* In a child: make io_uring_setup fail with ENOSYS (as a container's seccomp
 * profile does), then open with AUTO and with URING. 0 when AUTO fell back
 * to syscalls with one warning naming io_uring and URING failed. */
/* From now on, system call nr fails with err in this process (seccomp). */
static int block_syscall(int nr, int err)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = { .len = sizeof(prog) / sizeof(prog[0]), .filter = prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp))
		return -1;
	return 0;
}

static int child_without_io_uring(const char *path)
{
	struct rvf_dir_opts forced = { .io = RVF_IO_URING };
	struct rvf_dir *d = NULL;

	if (block_syscall(__NR_io_uring_setup, ENOSYS))
		return 10;
	unsetenv("RVF_IO");
	warn_seen[0] = 0;
	rvf_set_log(keep_warnings, NULL, RVF_LOG_WARN);
	if (rvf_dir_open(path, NULL, &d))
		return 11;
	if (strcmp(rvf_dir_io_name(d), "syscall") || !strstr(warn_seen, "io_uring unavailable"))
		return 12;
	df_expect_segment(d, 1, 100, 1);
	rvf_dir_close(d);
	d = NULL;
	if (rvf_dir_open(path, &forced, &d) != -ENOSYS || d)
		return 13;
	return 0;
}

/* In a child: a ring that starts failing (io_uring_enter refused) poisons
 * the handle on the next write, and reads keep serving the last commit
 * (through plain syscalls). 0 on success, else the failing step. */
static int child_with_a_failing_ring(const char *path)
{
	struct rvf_dir_opts forced = { .io = RVF_IO_URING };
	struct rvf_dir *d = NULL;
	uint8_t x[64] = { 1 };

	if (rvf_dir_open(path, &forced, &d))
		return 20;
	if (block_syscall(__NR_io_uring_enter, EPERM))
		return 21;
	if (rvf_dir_write_segment(d, 9, RVF_SEG_VEC, x, sizeof(x)) != -EPERM)
		return 22;
	if (rvf_dir_poisoned(d) != -EPERM || rvf_dir_commit(d) != -EIO)
		return 23;
	void *buf = NULL;
	size_t len = 0;
	if (rvf_dir_read_segment(d, 1, &buf, &len) || len != 100)
		return 24;
	free(buf);
	if (rvf_dir_check(d, NULL))
		return 25;
	rvf_dir_close(d);
	return 0;
}

/* Run fn(path) in a forked child (its seccomp filter stays there); fail with
 * the step it returns, if any. */
static void in_child(int (*fn)(const char *), const char *path, const char *what)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("%s: step %d failed", what, WEXITSTATUS(status));
}

static void io_backend_is_chosen_forced_and_falls_back(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	const char *was = getenv("RVF_IO");
	char *saved = was ? strdup(was) : NULL;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 100, 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);

	setenv("RVF_IO", "syscall", 1);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_string_equal(rvf_dir_io_name(d), "syscall");
	rvf_dir_close(d);
	setenv("RVF_IO", "uring", 1);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_string_equal(rvf_dir_io_name(d), "io_uring");
	rvf_dir_close(d);
	d = NULL;
	setenv("RVF_IO", "fast", 1);
	warn_seen[0] = 0;
	rvf_set_log(keep_warnings, NULL, RVF_LOG_WARN);
	int err = rvf_dir_open(f->path, NULL, &d);
	rvf_set_log(rvf_log_stderr, NULL, RVF_LOG_WARN);
	if (saved)
		setenv("RVF_IO", saved, 1);
	else
		unsetenv("RVF_IO");
	free(saved);
	assert_int_equal(err, -EINVAL);
	assert_null(d);
	assert_non_null(strstr(warn_seen, "RVF_IO=fast"));

	in_child(child_without_io_uring, f->path, "child without io_uring");
	in_child(child_with_a_failing_ring, f->path, "child with a failing ring");
	/* and the file is the last commit */
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	df_expect_segment(d, 1, 100, 1);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

static void create_refuses_existing_file(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	size_t len;
	uint8_t *before;

	tu_spit(f->path, "precious", 8);
	before = tu_slurp(f->path, &len);
	assert_int_equal(rvf_dir_create(f->path, NULL, &d), -EEXIST);
	assert_null(d);
	uint8_t *after = tu_slurp(f->path, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(before, after, 8);
	free(before);
	free(after);
	struct rvf_dir_opts o = { .block_size = 1000 };
	assert_int_equal(rvf_dir_create(f->path, &o, &d), -EINVAL);
}

static void uncommitted_writes_are_invisible(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	void *buf;
	size_t len;
	struct rvf_dir_segment *segs;
	size_t n;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 100, 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	df_put(d, 2, RVF_SEG_VEC, 100, 2);
	df_put(d, 1, RVF_SEG_VEC, 200, 11);          /* replace, pending */
	assert_int_equal(rvf_dir_read_segment(d, 2, &buf, &len), -ENOENT);
	df_expect_segment(d, 1, 100, 1);             /* still the committed one */
	rvf_dir_close(d);                         /* no commit */

	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_read_segment(d, 2, &buf, &len), -ENOENT);
	df_expect_segment(d, 1, 100, 1);
	assert_int_equal(rvf_dir_segments(d, &segs, &n), 0);
	assert_int_equal(n, 1);
	free(segs);
	/* rollback also discards */
	df_put(d, 5, RVF_SEG_VEC, 10, 5);
	assert_int_equal(rvf_dir_rollback(d), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_read_segment(d, 5, &buf, &len), -ENOENT);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

static void empty_and_metadata_only_commits_survive_reopen(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	void *um;
	size_t ulen;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_commit(d), 0);   /* empty */
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_generation(d), 3);
	rvf_dir_close(d);
	/* metadata-only commit on a fresh handle that has not written yet:
	 * lucisearch 0.8.0 lost exactly this one */
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_generation(d), 3);
	assert_int_equal(rvf_dir_set_user_metadata(d, "deletes:5", 9), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_dir_open_readonly(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_generation(d), 4);
	assert_int_equal(rvf_dir_user_metadata(d, &um, &ulen), 0);
	assert_int_equal(ulen, 9);
	assert_memory_equal(um, "deletes:5", 9);
	free(um);
	rvf_dir_close(d);
	/* clearing it is a metadata-only commit too */
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_set_user_metadata(d, NULL, 0), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_user_metadata(d, &um, &ulen), 0);
	assert_int_equal(ulen, 0);
	assert_null(um);
	rvf_dir_close(d);
}

/* An empty payload may come as (NULL, 0) through the iovec calls too (UBSan
 * caught memcpy(dst, NULL, 0) here). */
static void empty_segment_from_null_iovec(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	void *buf = NULL;
	size_t len = 1;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_write_segmentv(d, 9, RVF_SEG_VEC, 0, NULL, 0), 0);
	assert_int_equal(rvf_dir_write_vector_indexv(d, 2, NULL, 0), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_read_segment(d, 9, &buf, &len), 0);
	assert_int_equal(len, 0);
	free(buf);
	len = 1;
	assert_int_equal(rvf_dir_read_vector_index(d, 2, &buf, &len), 0);
	assert_int_equal(len, 0);
	free(buf);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

static void remove_and_replace_free_blocks_after_commit(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	uint64_t ids[] = { 1, 999 };
	void *buf;
	size_t len;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 40000, 1);
	df_put(d, 2, RVF_SEG_VEC, 40000, 2);
	assert_int_equal(rvf_dir_commit(d), 0);
	uint64_t total = rvf_dir_total_blocks(d);
	assert_int_equal(rvf_dir_remove_segments(d, ids, 2), 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_read_segment(d, 1, &buf, &len), -ENOENT);
	assert_true(rvf_dir_free_block_count(d) >= 10);
	/* with no reader pinned, the freed space is reused: replacing segment 2
	 * many times does not grow the file without bound */
	for (int i = 0; i < 50; i++) {
		df_put(d, 2, RVF_SEG_VEC, 40000, 100 + (uint64_t)i);
		assert_int_equal(rvf_dir_commit(d), 0);
	}
	assert_true(rvf_dir_total_blocks(d) <= total + 12);
	df_expect_segment(d, 2, 40000, 149);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	/* write then remove in one transaction: nothing committed, nothing leaked */
	df_put(d, 77, RVF_SEG_VEC, 9000, 77);
	uint64_t id77 = 77;
	assert_int_equal(rvf_dir_remove_segments(d, &id77, 1), 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_read_segment(d, 77, &buf, &len), -ENOENT);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

static void vector_index_api(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	void *buf;
	size_t len, n;
	uint32_t *fields;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_write_vector_index(d, 5, "five", 4), 0);
	assert_int_equal(rvf_dir_write_vector_index(d, 1, "one", 3), 0);
	assert_int_equal(rvf_dir_write_vector_index(d, 5, "FIVE!", 5), 0);
	assert_int_equal(rvf_dir_read_vector_index(d, 5, &buf, &len), -ENOENT);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_read_vector_index(d, 5, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "FIVE!", 5);
	free(buf);
	assert_int_equal(rvf_dir_remove_vector_index(d, 1), 0);
	assert_int_equal(rvf_dir_remove_vector_index(d, 42), -ENOENT);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_vector_index_fields(d, &fields, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fields[0], 5);
	free(fields);
	assert_int_equal(rvf_dir_read_vector_index(d, 1, &buf, &len), -ENOENT);
	/* vector indexes and segments are separate namespaces */
	assert_int_equal(rvf_dir_read_segment(d, 5, &buf, &len), -ENOENT);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

static void large_segments_and_many_segments(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	struct rvf_dir_check_report rep;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 9u << 20, 1);       /* crosses io_uring chunks */
	for (uint64_t i = 0; i < 3000; i++)         /* snapshot spans many blocks */
		df_put(d, 100 + i, RVF_SEG_META, (size_t)(i % 7) * 3, i);
	assert_int_equal(rvf_dir_set_user_metadata(d, NULL, 0), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	df_expect_segment(d, 1, 9u << 20, 1);
	df_expect_segment(d, 100 + 2999, (2999 % 7) * 3, 2999);
	assert_int_equal(rvf_dir_check(d, &rep), 0);
	assert_int_equal(rep.segments, 3001);
	assert_int_equal(rep.used_blocks + rep.free_blocks, rep.total_blocks);
	/* partial reads of a large segment */
	uint8_t part[100], *want = malloc(9u << 20);
	df_fill(want, 9u << 20, 1);
	assert_int_equal(rvf_dir_read_segment_range(d, 1, 5000000, part, 100), 0);
	assert_memory_equal(part, want + 5000000, 100);
	assert_int_equal(rvf_dir_read_segment_range(d, 1, (9u << 20) - 10, part, 100), -ERANGE);
	free(want);
	rvf_dir_close(d);
}

static void readonly_handle_refuses_writes(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_dir_open_readonly(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_write_segment(d, 1, 1, "x", 1), -EROFS);
	assert_int_equal(rvf_dir_commit(d), -EROFS);
	assert_int_equal(rvf_dir_set_user_metadata(d, "x", 1), -EROFS);
	assert_int_equal(rvf_dir_write_vector_index(d, 1, "x", 1), -EROFS);
	assert_int_equal(rvf_dir_remove_vector_index(d, 1), -EROFS);
	uint64_t id = 1;
	assert_int_equal(rvf_dir_remove_segments(d, &id, 1), -EROFS);
	assert_true(rvf_dir_is_readonly(d));
	rvf_dir_close(d);
}

static void reader_refresh_and_pinned_snapshot(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *w = NULL, *r = NULL;

	assert_int_equal(rvf_dir_create(f->path, NULL, &w), 0);
	df_put(w, 1, RVF_SEG_VEC, 30000, 1);
	assert_int_equal(rvf_dir_commit(w), 0);
	assert_int_equal(rvf_dir_open_readonly(f->path, NULL, &r), 0);
	assert_int_equal(rvf_dir_generation(r), 2);
	/* the writer replaces segment 1 many times; the pinned reader's
	 * snapshot must stay readable (no block reuse while pinned) */
	for (int i = 0; i < 10; i++) {
		df_put(w, 1, RVF_SEG_VEC, 30000, 10 + (uint64_t)i);
		assert_int_equal(rvf_dir_commit(w), 0);
	}
	df_expect_segment(r, 1, 30000, 1);
	assert_int_equal(rvf_dir_refresh(r), 1);
	assert_int_equal(rvf_dir_generation(r), 12);
	df_expect_segment(r, 1, 30000, 19);
	assert_int_equal(rvf_dir_refresh(r), 0);
	assert_int_equal(rvf_dir_check(r, NULL), 0);

	/* a reader that keeps up (refreshes after every commit) pins only the
	 * newest snapshot, so the writer reuses freed blocks: the file stops
	 * growing (with the old all-or-nothing pin it grew by every copy) */
	uint64_t before = rvf_dir_total_blocks(w);
	for (int i = 0; i < 10; i++) {
		df_put(w, 1, RVF_SEG_VEC, 30000, 100 + (uint64_t)i);
		assert_int_equal(rvf_dir_commit(w), 0);
		assert_int_equal(rvf_dir_refresh(r), 1);
		df_expect_segment(r, 1, 30000, 100 + (uint64_t)i);
	}
	if (rvf_dir_total_blocks(w) > before + 2 * 9)
		fail_msg("file grew from %llu to %llu blocks with a refreshing reader",
			 (unsigned long long)before, (unsigned long long)rvf_dir_total_blocks(w));
	assert_int_equal(rvf_dir_reuse_blocked(w), 0);

	/* a second reader that stays behind blocks reuse again, and its
	 * snapshot stays readable through many commits */
	struct rvf_dir *r2 = NULL;
	assert_int_equal(rvf_dir_open_readonly(f->path, NULL, &r2), 0);
	df_put(w, 1, RVF_SEG_VEC, 30000, 200);
	assert_int_equal(rvf_dir_commit(w), 0);
	assert_int_equal(rvf_dir_reuse_blocked(w), 1);
	for (int i = 0; i < 5; i++) {
		df_put(w, 1, RVF_SEG_VEC, 30000, 201 + (uint64_t)i);
		assert_int_equal(rvf_dir_commit(w), 0);
	}
	df_expect_segment(r2, 1, 30000, 109);
	assert_int_equal(rvf_dir_check(r2, NULL), 0);
	rvf_dir_close(r2);
	assert_int_equal(rvf_dir_refresh(r), 1);
	assert_int_equal(rvf_dir_reuse_blocked(w), 0);
	assert_int_equal(rvf_dir_check(w, NULL), 0);
	rvf_dir_close(r);
	rvf_dir_close(w);
}

/* check re-reads the committed snapshot from disk: damage done to it after
 * the handle loaded it is found (the handle's own copy would look fine). */
static void check_finds_a_snapshot_damaged_after_open(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	struct rvf_root_slot r[2];
	uint8_t b;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 5000, 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	int fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &r[0], sizeof(r[0]), 0), (ssize_t)sizeof(r[0]));
	assert_int_equal(pread(fd, &r[1], sizeof(r[1]), RVF_ROOT_SLOT_STRIDE), (ssize_t)sizeof(r[1]));
	const struct rvf_root_slot *cur = r[0].commit_seq > r[1].commit_seq ? &r[0] : &r[1];
	assert_int_equal(cur->commit_seq, rvf_dir_generation(d));
	off_t at = (off_t)(RVF_DATA_START + cur->meta_block * cur->block_size + cur->meta_len / 2);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
	assert_int_equal(rvf_dir_check(d, NULL), -EUCLEAN);
	df_expect_segment(d, 1, 5000, 1);            /* the loaded snapshot still serves */
	rvf_dir_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_open_roundtrip, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(create_refuses_existing_file, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(uncommitted_writes_are_invisible, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(empty_and_metadata_only_commits_survive_reopen, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(empty_segment_from_null_iovec, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(remove_and_replace_free_blocks_after_commit, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(vector_index_api, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(large_segments_and_many_segments, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(readonly_handle_refuses_writes, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(reader_refresh_and_pinned_snapshot, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(io_backend_is_chosen_forced_and_falls_back, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(check_finds_a_snapshot_damaged_after_open, df_setup, df_teardown),
	};

	tu_seed();
	return cmocka_run_group_tests_name("dir", tests, NULL, NULL);
}
