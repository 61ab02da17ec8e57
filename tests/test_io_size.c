/*
 * test_io_size.c - the I/O backends' size op, and the lengths checked
 * against it: each backend reports the file's size as its reads see it
 * (the crash simulator's includes the writes it holds), the directory asks
 * the backend rather than fstat, and a self-consistent file whose segment
 * claims 2 TiB past its end (tests/fuzz/fuzz_craft.h) is refused with
 * -EUCLEAN before anything is allocated for it, as is a store header whose
 * resealed counts promise more ids than the file can hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/io.h"
#include "rvf/dir.h"
#include "rvf/rvf.h"
#include "store/store_internal.h"
#include "crashsim.h"
#include "testutil.h"
#include "dir_fixture.h"
#include "fuzz/fuzz_craft.h"

static uint64_t io_size_of(struct io *io)
{
	uint64_t size = UINT64_MAX;

	assert_int_equal(io->ops->size(io, &size), 0);
	return size;
}

/* Writes, an extending truncate and a shrinking one, each seen by size. */
static void size_follows_the_file(int (*open_fn)(int, struct io **), const char *path)
{
	static const char data[1000] = "size";
	struct io *io = NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(open_fn(fd, &io), 0);
	assert_int_equal(io_size_of(io), 0);
	assert_int_equal(io_pwrite(io, data, sizeof(data), 0), 0);
	assert_int_equal(io_size_of(io), 1000);
	assert_int_equal(io_pwrite(io, data, 10, 70000), 0);
	assert_int_equal(io_size_of(io), 70010);
	assert_int_equal(io->ops->truncate(io, 1 << 20), 0);
	assert_int_equal(io_size_of(io), 1 << 20);
	assert_int_equal(io->ops->truncate(io, 123), 0);
	assert_int_equal(io_size_of(io), 123);
	io_close(io);
	close(fd);
}

static void syscall_backend_size_is_the_files(void **state)
{
	struct fx *f = *state;

	size_follows_the_file(io_sys_open, f->path);
}

static void uring_backend_size_is_the_files(void **state)
{
	struct fx *f = *state;
	struct io *io = NULL;
	int fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	if (io_uring_open(fd, &io))
		tu_skip("io_uring is unavailable here");
	io_close(io);
	close(fd);
	size_follows_the_file(io_uring_open, f->path);
}

static void crashsim_size_counts_held_writes(void **state)
{
	struct fx *f = *state;
	static const char data[100] = "held";
	struct crashsim cs;
	struct io *io = NULL;
	struct stat st;
	int fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	memset(&cs, 0, sizeof(cs));
	crashsim_install(&cs);
	assert_int_equal(io_open(fd, RVF_IO_SYSCALL, &io), 0);
	assert_string_equal(io->ops->name, "crashsim");
	/* held, not on disk: the logical file has it, fstat does not */
	assert_int_equal(io_pwrite(io, data, sizeof(data), 8192), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(io_size_of(io), 8292);
	/* an earlier write inside the file extends nothing */
	assert_int_equal(io_pwrite(io, data, sizeof(data), 0), 0);
	assert_int_equal(io_size_of(io), 8292);
	/* a truncate cuts a held write past it to nothing: it extends nothing */
	assert_int_equal(io->ops->truncate(io, 4096), 0);
	assert_int_equal(io_size_of(io), 4096);
	assert_int_equal(io_pwrite(io, data, sizeof(data), 5000), 0);
	assert_int_equal(io_size_of(io), 5100);
	assert_int_equal(io->ops->sync(io), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 5100);
	assert_int_equal(io_size_of(io), 5100);
	/* after the power is gone, like every other op */
	cs.crash_at = cs.ops + 1;
	assert_int_equal(io_pwrite(io, data, sizeof(data), 9000), -EIO);
	assert_true(cs.crashed);
	uint64_t sz = 0;
	assert_int_equal(io->ops->size(io, &sz), -EIO);
	io_close(io);
	crashsim_uninstall();
	close(fd);
}

/* The directory's file size is the backend's: held segment writes count. */
static void dir_file_size_asks_the_backend(void **state)
{
	struct fx *f = *state;
	struct rvf_dir *d = NULL;
	struct crashsim cs;
	struct stat st;
	char *buf = calloc(1, 1 << 16);

	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	rvf_dir_close(d);
	memset(&cs, 0, sizeof(cs));
	crashsim_install(&cs);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_write_segment(d, 1, RVF_SEG_VEC, buf, 1 << 16), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(rvf_dir_file_size(d) >= st.st_size + (1 << 16));
	assert_int_equal(rvf_dir_commit(d), 0);
	assert_int_equal(rvf_dir_verify_segment(d, 1), 0);
	rvf_dir_close(d);
	crashsim_uninstall();
	free(buf);
}

/* The crafted file opens (its snapshot is sound); every read of the lying
 * segment says -EUCLEAN, the checker reports it, and nothing asks for
 * 2 TiB (under ASan that would abort the test). */
static void segment_past_the_file_is_refused_before_allocating(void **state)
{
	struct fx *f = *state;
	struct rvf_dir_segment info;
	struct rvf_dir *d = NULL;
	void *buf = NULL;
	size_t len = 0;
	char head[16];

	assert_int_equal(craft_far_segment(f->path), 0);
	assert_int_equal(rvf_dir_open_readonly(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_total_blocks(d), CRAFT_TOTAL_BLOCKS);
	assert_int_equal(rvf_dir_segment_info(d, 1, &info), 0);
	assert_int_equal(info.payload_len, CRAFT_FAR_LEN);
	assert_int_equal(rvf_dir_read_segment(d, 1, &buf, &len), -EUCLEAN);
	assert_null(buf);
	assert_non_null(strstr(rvf_last_error(), "past the end of the file"));
	assert_int_equal(rvf_dir_verify_segment(d, 1), -EUCLEAN);
	assert_int_equal(rvf_dir_read_segment_range(d, 1, 0, head, sizeof(head)), -EUCLEAN);
	assert_int_not_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);
}

/* The committed regression input is the crafted file (mkregress wrote it)
 * and is refused the same way. */
static void committed_regression_input_is_refused(void **state)
{
	struct fx *f = *state;
	char *path = tu_repo_path("tests/fuzz/regress/fuzz_dir_open/dir-far-segment");
	struct rvf_dir *d = NULL;
	void *buf = NULL, *data;
	size_t len = 0;

	data = tu_slurp(path, &len);
	assert_non_null(data);
	tu_spit(f->path, data, len);
	assert_int_equal(rvf_dir_open_readonly(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_total_blocks(d), CRAFT_TOTAL_BLOCKS);
	assert_int_equal(rvf_dir_read_segment(d, 1, &buf, &len), -EUCLEAN);
	rvf_dir_close(d);
	free(data);
	free(path);
}

/* A store header resealed to promise 2^40 live vectors: the id map sized
 * for it before replay checks the count would ask for 32 TiB; it is held
 * to what the file can hold, and replay then refuses the lie. */
static void store_header_counts_past_the_file_are_refused(void **state)
{
	struct fx *f = *state;
	struct rvf_store_opts o = { .dimension = 4 };
	struct rvf_store *s = NULL;
	struct rvf_dir *d = NULL;
	struct store_hdr h;
	void *um = NULL;
	size_t umlen = 0;

	assert_int_equal(rvf_store_create(f->path, &o, &s), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_user_metadata(d, &um, &umlen), 0);
	assert_int_equal(umlen, sizeof(h));
	memcpy(&h, um, sizeof(h));
	h.live = 1ull << 40;
	h.hash = XXH3_64bits(&h, offsetof(struct store_hdr, hash));
	assert_int_equal(rvf_dir_set_user_metadata(d, &h, sizeof(h)), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	free(um);
	s = NULL;
	assert_int_equal(rvf_store_open_readonly(f->path, NULL, &s), -EUCLEAN);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(syscall_backend_size_is_the_files, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(uring_backend_size_is_the_files, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(crashsim_size_counts_held_writes, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(dir_file_size_asks_the_backend, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(segment_past_the_file_is_refused_before_allocating,
						df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(committed_regression_input_is_refused, df_setup, df_teardown),
		cmocka_unit_test_setup_teardown(store_header_counts_past_the_file_are_refused,
						df_setup, df_teardown),
	};

	tu_seed();
	tu_log_to_stderr();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
