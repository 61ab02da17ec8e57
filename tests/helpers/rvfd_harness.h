/*
 * rvfd_harness.h - what the end-to-end tests of the query daemon share
 * (tests/e2e/test_rvfd.c, test_afxdp.c): stores built from fixed seeds, the
 * real build/bin/rvfd started as a separate process (optionally inside a
 * named network namespace, as nobody, with io_uring denied) and stopped, a
 * UDP client speaking the wire codec, the bad-datagram kinds the filters
 * must drop, and veth pairs between two network namespaces (struct netpair,
 * sh, netpair_destroy and netns_enter are tools/harness's, shared with
 * tools/bench-rvfd).
 *
 * Cleanup: every daemon started is tracked; kill_leftovers (atexit) kills
 * what a failed test left running and removes its pins; destroy_all_pairs
 * (atexit) removes the namespaces. Failures go through cmocka (fail_msg).
 */
#ifndef RVF_TESTS_RVFD_HARNESS_H
#define RVF_TESTS_RVFD_HARNESS_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "harness/harness.h"
#include "testutil.h"
#include "rvf/rvf.h"
#include "rvf/wire.h"

/* ---- stores --------------------------------------------------------------- */

/* n * dim floats uniform in [-1, 1) from seed s. */
void fill_vectors(float *v, size_t n, uint32_t dim, uint64_t s);
/* A store of n such vectors, ids 0..n-1; meta: field 0 = id % 10. */
void build_store(const char *path, size_t n, uint32_t dim, uint64_t s, bool meta);

/* ---- the daemon ----------------------------------------------------------- */

/* $RVFD_BIN, else ../bin/rvfd next to the test binary (find_binary). */
extern char rvfd_bin[PATH_MAX];
void find_binary(void);

struct daemon {
	pid_t pid;
	char out[PATH_MAX], err[PATH_MAX];
	char instance[48], pin_dir[96];
	uint16_t port;
	char text[16384];   /* stdout so far */
};

enum wrap { WRAP_NONE, WRAP_NO_URING };

struct start {
	const char *io;         /* RVF_IO for the daemon, NULL = unset */
	const char *netns;      /* run inside this named netns (nsenter --net) */
	enum wrap wrap;
	bool as_nobody;         /* uid/gid 65534, no capabilities (setpriv) */
};

/* Start rvfd with args (NULL-terminated; its output files go to dir);
 * returns its exit status if it exited before "ready" (then d->pid is 0),
 * else -1 with d->port set. Each daemon gets its own --instance (and pin
 * dir /sys/fs/bpf/rvf/<instance>) unless args name one. */
int daemon_start(const char *dir, struct daemon *d, const struct start *s, char *const *args);
/* The same, failing the test (with its output) unless it got ready. */
void must_start(const char *dir, struct daemon *d, const struct start *s, char *const *args);
/* SIGTERM and the exit status (bounded wait; SIGKILL and a failure after 20 s). */
int daemon_stop(struct daemon *d);
/* Track (on) or forget a daemon a test reaped itself. */
void track(struct daemon *d, bool on);
/* SIGKILL every tracked daemon still running, remove its pins. */
void kill_leftovers(void);
void remove_pins(const char *dir);
/* SIGSTOP pid and wait until every thread of it is stopped. */
void stop_and_wait(pid_t pid);
/* Up to cap - 1 bytes of path, NUL-terminated ("" when unreadable). */
void read_text(const char *path, char *buf, size_t cap);

/* ---- a client ------------------------------------------------------------- */

struct client {
	int fd;
	struct sockaddr_in to;
};

void client_open(struct client *c, const char *ip, uint16_t port);
void client_send(struct client *c, const void *buf, size_t len);
/* Wait up to ms for a datagram; its length, or -1 on timeout. */
ssize_t client_recv(struct client *c, void *buf, size_t cap, int ms);
size_t make_query(uint8_t *buf, size_t cap, uint32_t ns, const float *v, uint16_t dim, uint16_t k,
		  uint16_t ef, uint64_t rid);
/* Send one datagram and wait for the reply with request id rid (retrying
 * on timeout with the same datagram). Returns the reply's length. */
size_t ask(struct client *c, const void *q, size_t qlen, uint64_t rid, uint8_t *rep, size_t cap);
/* The reply to a query must equal rvf_store_query in process. */
void expect_same_results(const struct rvf_store *ro, const float *v, uint32_t dim, uint16_t k,
			 uint32_t ef, const struct rvf_filter *flt, const uint8_t *rep, size_t len);
/* A stats request answered: the JSON (owned: json_decref). */
json_t *get_stats(struct client *c);
/* The integer o.a (b NULL) or o.a.b; fails the test when it is not one. */
long long jget(json_t *o, const char *a, const char *b);

/* ---- bad datagrams --------------------------------------------------------- */

enum bad { B_TRUNC, B_MAGIC, B_VERSION, B_HEADER, B_DIM, B_LENGTH, B_K, B_NS, B_NAN, B_N };
struct bad_kind {
	const char *what;
	int times;                      /* how many of the kind send_bads sends */
};
extern const struct bad_kind bads[B_N];
#define BAD_RID 0x8000000000000000ull

/* The namespace the bad datagrams imitate: a served ns of dimension dim
 * (<= 1024), and another dimension dim2 != dim. Set by the test. */
struct bad_shape {
	uint32_t ns;
	uint16_t dim, dim2;
};
extern struct bad_shape bad_shape;

/* Datagram t of kind k built from a good query of v, request id rid. */
size_t make_bad(uint8_t *b, size_t cap, const float *v, enum bad k, int t, uint64_t rid);
/* Send every bad kind; then expect exactly the replies (status) of the
 * kinds in answered_mask, and nothing else. */
void send_bads(struct client *c, const float *v, unsigned answered_mask, const int *status);
/* Kernel counters equal what send_bads sent (an unserved namespace counts
 * as bad_dim in the prefilter, wire.h); passed >= passed_min, or == when
 * exact_passed. */
void expect_kernel_counts(const struct rvf_wire_counters *k, uint64_t passed_min, bool exact_passed);
/* A stats JSON counter object into a struct. */
void json_to_counters(json_t *o, struct rvf_wire_counters *c);

/* ---- veth between two network namespaces ---------------------------------- */

extern struct netpair pairs[2];

/* Namespaces rvt<pid>c<n> and rvt<pid>s<n>, a veth rvt<pid%100000>c <->
 * rvt<pid%100000>s between them at mtu, client 10.201.<n>.1, server
 * 10.201.<n>.2, lo up in both. Fails the test on any error. */
void netpair_create(struct netpair *p, int n, int mtu);
void destroy_all_pairs(void);

/* One ICMP echo to ip answered (raw socket, in the caller's namespace): 0,
 * else -1 after three tries of 1 s. */
int ping_once(const char *ip);
/* A forked UDP echo server on ip:port in namespace ns: answers every
 * datagram until killed (SIGKILL it). Ready when this returns. */
pid_t udp_echo_server(const char *ns, const char *ip, uint16_t port);

#endif
