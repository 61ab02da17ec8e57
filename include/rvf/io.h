/*
 * rvf/io.h - the I/O backend choice a directory is opened with
 * (struct rvf_dir_opts.io). Its own header so the I/O layer under storage
 * (user/io/) needs nothing of the directory API above it.
 */
#ifndef RVF_IO_PUBLIC_H
#define RVF_IO_PUBLIC_H

enum rvf_io_kind {
	RVF_IO_AUTO = 0,     /* io_uring if usable, else syscalls (one log line);
	                        the RVF_IO environment variable ("uring" or
	                        "syscall") overrides AUTO */
	RVF_IO_URING,        /* io_uring or fail with its error */
	RVF_IO_SYSCALL,      /* pread/pwrite/fdatasync */
};

#endif
