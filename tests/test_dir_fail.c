/*
 * test_dir_fail.c - the directory's failure paths: a second writer, write
 * and fsync failures poisoning the handle, bad input files, permissions,
 * damaged payloads, bad arguments.
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

static void second_writer_gets_ebusy_after_timeout(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *a = NULL, *b = NULL;
	struct rvf_dir_opts o = { .write_timeout_ms = 150 };

	assert_int_equal(rvf_dir_create(f->path, NULL, &a), 0);
	assert_int_equal(rvf_dir_open(f->path, &o, &b), 0);
	df_put(a, 1, RVF_SEG_VEC, 10, 1);            /* a holds the writer lock */
	assert_int_equal(rvf_dir_write_segment(b, 2, 1, "x", 1), -EBUSY);
	assert_non_null(strstr(rvf_last_error(), f->path));
	rvf_dir_set_write_timeout(b, 0);          /* do not wait at all */
	assert_int_equal(rvf_dir_write_segment(b, 2, 1, "x", 1), -EBUSY);
	assert_non_null(strstr(rvf_last_error(), "waited 0 ms"));
	rvf_dir_set_write_timeout(b, 150);
	assert_int_equal(rvf_dir_commit(a), 0);   /* releases it */
	/* b refreshes to a's commit before writing on top of it */
	df_put(b, 2, RVF_SEG_VEC, 10, 2);
	assert_int_equal(rvf_dir_commit(b), 0);
	df_expect_segment(b, 1, 10, 1);
	df_expect_segment(b, 2, 10, 2);
	rvf_dir_close(a);
	rvf_dir_close(b);
	/* hold_write_lock: taken at open */
	struct rvf_dir_opts h = { .hold_write_lock = 1, .write_timeout_ms = 100 };
	assert_int_equal(rvf_dir_open(f->path, &h, &a), 0);
	b = NULL;
	assert_int_equal(rvf_dir_open(f->path, &h, &b), -EBUSY);
	assert_null(b);
	rvf_dir_close(a);
	assert_int_equal(rvf_dir_open(f->path, &h, &b), 0);
	rvf_dir_close(b);
}

static void write_failure_poisons_handle(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	struct crashsim cs;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 100, 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);

	memset(&cs, 0, sizeof(cs));
	cs.fail_at = 1;                           /* the first write fails */
	crashsim_install(&cs);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	uint8_t x[10] = { 0 };
	assert_int_equal(rvf_dir_write_segment(d, 2, 1, x, sizeof(x)), -EIO);
	assert_int_equal(rvf_dir_poisoned(d), -EIO);
	assert_int_equal(rvf_dir_write_segment(d, 3, 1, x, sizeof(x)), -EIO);
	assert_int_equal(rvf_dir_commit(d), -EIO);
	df_expect_segment(d, 1, 100, 1);             /* reads still served */
	/* the poisoned handle no longer holds the writer lock */
	struct rvf_dir *e = NULL;
	struct rvf_dir_opts quick = { .write_timeout_ms = 100 };
	assert_int_equal(rvf_dir_open(f->path, &quick, &e), 0);
	assert_int_equal(rvf_dir_write_segment(e, 4, 1, x, sizeof(x)), 0);
	assert_int_equal(rvf_dir_rollback(e), 0);
	rvf_dir_close(e);
	rvf_dir_close(d);
	/* nor does one opened holding it for life */
	cs.fail_at = cs.ops + 1;
	struct rvf_dir_opts hold = { .hold_write_lock = 1, .write_timeout_ms = 100 };
	assert_int_equal(rvf_dir_open(f->path, &hold, &d), 0);
	assert_int_equal(rvf_dir_write_segment(d, 2, 1, x, sizeof(x)), -EIO);
	e = NULL;
	assert_int_equal(rvf_dir_open(f->path, &hold, &e), 0);
	df_expect_segment(d, 1, 100, 1);
	rvf_dir_close(e);
	rvf_dir_close(d);
	crashsim_uninstall();
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_generation(d), 2);
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

static void fsync_failure_poisons_and_is_never_retried(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	struct crashsim cs;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	rvf_dir_close(d);
	/* ops of the commit below: 1 segment write, 2 snapshot write, 3 sync,
	 * 4 root write, 5 sync. Fail each sync in turn. */
	for (uint64_t at = 3; at <= 5; at += 2) {
		memset(&cs, 0, sizeof(cs));
		cs.fail_at = at;
		crashsim_install(&cs);
		assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
		uint64_t gen = rvf_dir_generation(d);
		df_put(d, at, RVF_SEG_VEC, 100, at);
		assert_int_equal(rvf_dir_commit(d), -EIO);
		assert_int_equal(cs.syncs, at == 3 ? 1 : 2);   /* no retry after the failure */
		assert_int_equal(rvf_dir_commit(d), -EIO);
		assert_int_equal(cs.syncs, at == 3 ? 1 : 2);
		assert_int_equal(rvf_dir_generation(d), gen);
		rvf_dir_close(d);
		crashsim_uninstall();
		assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
		/* the failed sync dropped the held writes: the old commit */
		assert_int_equal(rvf_dir_generation(d), gen);
		assert_int_equal(rvf_dir_check(d, NULL), 0);
		rvf_dir_close(d);
	}
}

/* A new name's durability (the parent directory's fsync) goes through the
 * I/O backend: the crash simulator counts it, and when it fails, create and
 * link say so and leave no name behind. */
static void parent_fsync_goes_through_io_and_failure_is_reported(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL, *e = NULL;
	char *other = tu_path(f->dir, "other"), *third = tu_path(f->dir, "third");
	struct crashsim cs;
	struct stat st;

	/* ops of a create: 1 snapshot write, 2 sync, 3 root write, 4 sync,
	 * 5 the parent directory's sync */
	memset(&cs, 0, sizeof(cs));
	cs.fail_at = 5;
	crashsim_install(&cs);
	assert_int_equal(rvf_dir_create(f->path, NULL, &d), -EIO);
	crashsim_uninstall();
	assert_null(d);
	assert_int_equal(cs.ops, 5);
	assert_int_equal(cs.syncs, 3);
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	memset(&cs, 0, sizeof(cs));
	crashsim_install(&cs);
	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	assert_int_equal(cs.syncs, 3);
	/* a second name: its sync fails, then works */
	cs.fail_at = cs.ops + 1;
	assert_int_equal(rvf_dir_link(d, other), -EIO);
	assert_int_equal(stat(other, &st), -1);
	assert_int_equal(rvf_dir_link(d, other), 0);
	assert_int_equal(cs.syncs, 5);
	assert_int_equal(rvf_dir_link(d, other), -EEXIST);
	rvf_dir_close(d);
	crashsim_uninstall();
	assert_int_equal(rvf_dir_open_readonly(other, NULL, &e), 0);
	assert_int_equal(rvf_dir_generation(e), 1);
	assert_int_equal(rvf_dir_link(e, third), -EROFS);
	rvf_dir_close(e);
	assert_int_equal(rvf_dir_link(NULL, third), -EINVAL);
	free(other);
	free(third);
}

/* A store at path whose next commit trims a free 1 MiB tail; its size. */
static off_t with_free_tail(const char *path)
{
	struct rvf_dir *d = NULL;
	struct stat st;
	uint64_t one = 1;

	assert_int_equal(rvf_dir_create(path, NULL, &d), 0);
	df_put(d, 2, RVF_SEG_VEC, 100, 2);
	df_put(d, 1, RVF_SEG_VEC, 1 << 20, 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_remove_segments(d, &one, 1), 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 1 << 20);
	return st.st_size;
}

/* Trimming a free tail (ftruncate) is an I/O op too: through the crash
 * simulator it shrinks the file; failed there, the file keeps its size and
 * the commit stands. */
static void tail_trim_goes_through_io(void **state)
{
	struct fx *f = *state;
	char *other = tu_path(f->dir, "other");
	struct rvf_dir *d = NULL;
	struct crashsim cs;
	struct stat st;
	uint64_t before;
	off_t big;

	for (int fail = 0; fail < 2; fail++) {
		const char *path = fail ? other : f->path;

		big = with_free_tail(path);
		memset(&cs, 0, sizeof(cs));
		crashsim_install(&cs);
		assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
		df_put(d, 3, RVF_SEG_VEC, 100, 3);
		/* the commit's ops: 1 snapshot write, 2 sync, 3 root write,
		 * 4 sync, 5 the trim */
		before = cs.ops;
		cs.fail_at = fail ? before + 5 : 0;
		assert_int_equal(rvf_dir_commit(d), 0);
		assert_int_equal(cs.failed, fail);
		assert_int_equal(cs.ops, before + 5);
		assert_int_equal(stat(path, &st), 0);
		if (fail)
			assert_int_equal(st.st_size, big);
		else
			assert_true(st.st_size < big - (1 << 19));
		df_expect_segment(d, 2, 100, 2);
		df_expect_segment(d, 3, 100, 3);
		rvf_dir_close(d);
		crashsim_uninstall();
		assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
		assert_int_equal(rvf_dir_generation(d), 4);
		assert_int_equal(rvf_dir_check(d, NULL), 0);
		rvf_dir_close(d);
	}
	free(other);
}

static void bad_files_get_clear_errors_and_stay_untouched(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	char *p = tu_path(f->dir, "bad");
	uint8_t junk[20000];
	size_t len;

	assert_int_equal(rvf_dir_open(p, NULL, &d), -ENOENT);
	assert_int_equal(rvf_dir_open_readonly(p, NULL, &d), -ENOENT);
	tu_spit(p, "", 0);
	assert_int_equal(rvf_dir_open(p, NULL, &d), -ENOEXEC);
	df_fill(junk, sizeof(junk), 5);
	tu_spit(p, junk, sizeof(junk));
	assert_int_equal(rvf_dir_open(p, NULL, &d), -ENOEXEC);
	assert_int_equal(rvf_dir_open_readonly(p, NULL, &d), -ENOEXEC);
	uint8_t *after = tu_slurp(p, &len);
	assert_int_equal(len, sizeof(junk));
	assert_memory_equal(after, junk, len);
	free(after);
	tu_spit(p, "SFVR\x01\x05", 6);
	assert_int_equal(rvf_dir_open(p, NULL, &d), -ENOEXEC);
	tu_spit(p, junk, 100);
	assert_int_equal(rvf_dir_open(p, NULL, &d), -ENOEXEC);
	assert_int_equal(rvf_dir_open(f->dir, NULL, &d), -EISDIR);
	assert_int_equal(rvf_dir_open_readonly(f->dir, NULL, &d), -EISDIR);
	assert_null(d);
	/* a FIFO (nobody writing to it) is refused at once, never waited on */
	char *fifo = tu_path(f->dir, "fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(rvf_dir_open_readonly(fifo, NULL, &d), -EINVAL);
	assert_int_equal(rvf_dir_open(fifo, NULL, &d), -EINVAL);
	assert_null(d);
	free(fifo);

	/* truncations of a real store */
	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 20000, 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	uint8_t *whole = tu_slurp(f->path, &len);
	for (size_t cut = 0; cut < len; cut += 997) {
		tu_spit(p, whole, cut);
		int err = rvf_dir_open(p, NULL, &d);
		if (err == 0) {
			void *b;
			size_t bl;
			err = rvf_dir_read_segment(d, 1, &b, &bl);
			assert_true(err == -EUCLEAN || err == -EBADMSG || err == -ENOENT);
			rvf_dir_close(d);
		} else {
			assert_true(err == -ENOEXEC || err == -EUCLEAN || err == -EBADMSG);
		}
	}
	/* a file from a newer format version */
	struct rvf_root_slot r;
	memcpy(&r, whole + 0x1000, sizeof(r));
	assert_memory_equal(r.magic, RVF_ROOT_MAGIC, 8);
	r.format_version = RVF_FORMAT_VERSION + 1;
	r.slot_hash = 0;
	{
		/* reseal by hand: the test must not depend on internal helpers */
		extern void root_seal(struct rvf_root_slot *);
		root_seal(&r);
	}
	memcpy(whole + 0x1000, &r, sizeof(r));
	tu_spit(p, whole, len);
	assert_int_equal(rvf_dir_open(p, NULL, &d), -ENOTSUP);
	assert_int_equal(rvf_dir_open_readonly(p, NULL, &d), -ENOTSUP);
	free(whole);
	free(p);
}

static void permission_denied_is_clear(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	pid_t pid;
	int st;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	rvf_dir_close(d);
	chmod(f->path, 0600);
	chmod(f->dir, 0755);
	pid = fork();
	if (pid == 0) {
		/* root bypasses file modes: drop to nobody to see a real EACCES */
		if (setgid(65534) || setuid(65534))
			_exit(3);
		int e1 = rvf_dir_open(f->path, NULL, &d);
		int e2 = rvf_dir_open_readonly(f->path, NULL, &d);
		_exit(e1 == -EACCES && e2 == -EACCES ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void check_detects_damaged_payload(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	struct rvf_dir_segment info;
	void *b;
	size_t bl;

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	df_put(d, 1, RVF_SEG_VEC, 5000, 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_segment_info(d, 1, &info), 0);
	rvf_dir_close(d);
	int fd = open(f->path, O_RDWR);
	uint8_t byte;
	assert_int_equal(pread(fd, &byte, 1, (off_t)info.file_offset + 64 + 1234), 1);
	byte ^= 0x10;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)info.file_offset + 64 + 1234), 1);
	close(fd);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_read_segment(d, 1, &b, &bl), -EBADMSG);
	assert_int_equal(rvf_dir_verify_segment(d, 1), -EBADMSG);
	assert_int_not_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

static void bad_arguments_are_rejected(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	void *b;
	size_t bl;

	assert_int_equal(rvf_dir_create(NULL, NULL, &d), -EINVAL);
	assert_int_equal(rvf_dir_create("", NULL, &d), -EINVAL);
	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_write_segment(d, 1, 1, NULL, 5), -EINVAL);
	assert_int_equal(rvf_dir_read_segment(d, 1, NULL, &bl), -EINVAL);
	assert_int_equal(rvf_dir_read_segment(d, 1, &b, &bl), -ENOENT);
	assert_int_equal(rvf_dir_set_user_metadata(d, NULL, 3), -EINVAL);
	rvf_dir_close(d);
	rvf_dir_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(second_writer_gets_ebusy_after_timeout, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(write_failure_poisons_handle, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(fsync_failure_poisons_and_is_never_retried, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(parent_fsync_goes_through_io_and_failure_is_reported, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(tail_trim_goes_through_io, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(bad_files_get_clear_errors_and_stay_untouched, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(permission_denied_is_clear, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(check_detects_damaged_payload, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(bad_arguments_are_rejected, df_setup, df_teardown),
	};

	tu_seed();
	return cmocka_run_group_tests_name("dir", tests, NULL, NULL);
}
