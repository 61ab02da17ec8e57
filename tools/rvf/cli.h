/*
 * tools/rvf/cli.h - shared pieces of the `rvf` command-line tool: the command
 * table, option parsing helpers, error reporting and store opening.
 *
 * Conventions: every command is `int cmd_x(int argc, char **argv)` with
 * argv[0] the command name; it returns the process exit status:
 *   0 success, 1 failure (message on stderr naming the file and the problem),
 *   2 usage error (unknown option, missing or bad argument).
 * Library errors are reported with the library's own last error message
 * (which names the file), captured by the log sink installed in main.c.
 */
#ifndef RVF_CLI_H
#define RVF_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rvf/rvf.h"

#define EXIT_USAGE 2

/* The command being run ("ingest"), for messages. */
extern const char *cli_cmd;

/* "rvf <cmd>: <message>" on stderr. */
__attribute__((format(printf, 1, 2)))
void cli_err(const char *fmt, ...);
/* "rvf <cmd>: <path>: <what>: <strerror(rc)>[: <library detail>]". */
void cli_lib_err(const char *path, const char *what, int rc);
/* Forget the captured library error (before a call whose failure we report). */
void cli_clear_lib_err(void);
/* The last ERROR the library logged on this thread since cli_clear_lib_err
 * ("" if none). Per thread, like rvf_last_error: worker threads log at the
 * same time; a worker's detail reaches the main thread through
 * cli_set_lib_detail. */
const char *cli_lib_detail(void);
void cli_set_lib_detail(const char *detail);

/*
 * getopt_long over argv with the common handling: --help (-h) prints usage
 * to stdout and makes the caller exit 0 (returns 'h'); an unknown option or
 * a missing argument prints a message and returns '?' (caller exits 2).
 * Every optstring must start with ':' and contain 'h'; every long option
 * table must have {"help", no_argument, 0, 'h'}.
 */
int cli_getopt(int argc, char **argv, const char *optstring, const struct option *longopts,
	       const char *usage);
void cli_usage(FILE *f, const char *usage);

/* Strict number parsing: the whole string, in range. 0 or -EINVAL with a
 * message naming the option. */
int cli_u64(const char *opt, const char *s, uint64_t *out);
int cli_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* Comma-separated floats / u64s; *out owned (free()). */
int cli_float_list(const char *opt, const char *s, float **out, uint32_t *n);
int cli_u64_list(const char *opt, const char *s, uint64_t **out, size_t *n);

/* Parse a --filter argument: JSON text, or @path to read it from a file. */
int cli_filter(const char *arg, struct rvf_filter **out);

/* Store opening with the writer-lock timeout from --lock-timeout or
 * $RVF_LOCK_TIMEOUT_MS. Report their own errors; return 0 or -errno. */
extern uint32_t cli_lock_timeout_ms;
int cli_open_rw(const char *path, struct rvf_store **out);
int cli_open_ro(const char *path, struct rvf_store **out);
/* Close a writable store, reporting a failed final write. 0 or 1. */
int cli_close(struct rvf_store *s, const char *path);

/* Whole files. */
int cli_read_file(const char *path, void **buf, size_t *len);
int cli_write_file(const char *path, const void *buf, size_t len);

/* Lower-case hex of n bytes into out (2n+1 chars). */
void cli_hex(const uint8_t *p, size_t n, char *out);
int cli_parse_hex(const char *opt, const char *s, uint8_t *out, size_t n);
bool cli_all_zero(const uint8_t *p, size_t n);

double cli_now(void);   /* monotonic seconds */

/* A JSON string literal of s (len bytes) to f, escaping as JSON requires. */
void cli_json_str(FILE *f, const char *s, size_t len);

const char *cli_seg_type_name(uint8_t type);   /* "VEC", ... or NULL */
const char *cli_profile_name(int profile);
const char *cli_derivation_name(int type);
int cli_derivation_parse(const char *s, enum rvf_derivation_type *out);

/* Commands. */
int cmd_create(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_segments(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_derive(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_embed_kernel(int argc, char **argv);
int cmd_extract_kernel(int argc, char **argv);
int cmd_embed_ebpf(int argc, char **argv);
int cmd_extract_ebpf(int argc, char **argv);
int cmd_freeze(int argc, char **argv);
int cmd_membership(int argc, char **argv);
int cmd_branch(int argc, char **argv);
int cmd_remote_query(int argc, char **argv);
int cmd_stats(int argc, char **argv);

#endif
