/*
 * harness/harness.h - what the daemon's end-to-end tests
 * (tests/helpers/rvfd_harness.c) and its benchmark (tools/bench-rvfd) share:
 * a formatted shell command, a veth pair between two network namespaces
 * they create and remove, entering a named namespace, and waiting for a
 * started rvfd to say it is ready. Not a program: its objects link into
 * every tool and test, like tools/data. Returns 0 or -1/-errno; never
 * exits and never fails a test itself.
 */
#ifndef RVF_TOOLS_HARNESS_H
#define RVF_TOOLS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* system() of the formatted command, stdout and stderr flushed first: its
 * exit status, -1 if it did not exit. */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct netpair {
	char cli[32], srv[32];          /* the namespaces (/run/netns/NAME) */
	char cli_if[16], srv_if[16];    /* the veth ends inside them */
	char cli_ip[16], srv_ip[16];
	bool made;
};

/* Namespaces <tag><pid>c<n> and <tag><pid>s<n>, a veth <tag><pid%100000>c
 * <-> <tag><pid%100000>s between them at mtu (0: the default), client
 * 10.<net>.<n>.1/24, server 10.<net>.<n>.2/24, lo up in both. 0, or -1
 * (what was made is removed by netpair_destroy, which p->made says to call). */
int netpair_setup(struct netpair *p, const char *tag, int net, int n, int mtu);
/* Remove both namespaces (and so the veth) if made; safe to repeat. */
void netpair_destroy(struct netpair *p);

/* setns into the named namespace (/run/netns/NS): 0 or -1. */
int netns_enter(const char *ns);

/* Wait up to 30 s for rvfd (pid, its stdout in the file out) to print
 * "rvfd: ready": 0 with *port the first listener's port; -ECHILD when it
 * exited first (*status its exit code, or 128 + the signal; pid reaped);
 * -ETIMEDOUT. text (cap bytes) holds its stdout so far either way. */
int rvfd_wait_ready(pid_t pid, const char *out, char *text, size_t cap, uint16_t *port, int *status);

#endif
