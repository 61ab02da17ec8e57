/*
 * harness.c - shell commands, veth pairs in network namespaces and rvfd's
 * readiness, shared by the daemon's tests and benchmark (harness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/harness.h"

int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int netpair_setup(struct netpair *p, const char *tag, int net, int n, int mtu)
{
	int pid = (int)getpid();
	char mtu_arg[24] = "";

	memset(p, 0, sizeof(*p));
	snprintf(p->cli, sizeof(p->cli), "%s%dc%d", tag, pid, n);
	snprintf(p->srv, sizeof(p->srv), "%s%ds%d", tag, pid, n);
	snprintf(p->cli_if, sizeof(p->cli_if), "%s%dc", tag, pid % 100000);
	snprintf(p->srv_if, sizeof(p->srv_if), "%s%ds", tag, pid % 100000);
	snprintf(p->cli_ip, sizeof(p->cli_ip), "10.%d.%d.1", net, n);
	snprintf(p->srv_ip, sizeof(p->srv_ip), "10.%d.%d.2", net, n);
	if (mtu > 0)
		snprintf(mtu_arg, sizeof(mtu_arg), "mtu %d ", mtu);
	p->made = true;
	if (sh("ip netns add %s", p->cli) || sh("ip netns add %s", p->srv) ||
	    sh("ip link add %s netns %s type veth peer name %s netns %s", p->cli_if, p->cli, p->srv_if,
	       p->srv) ||
	    sh("ip -n %s addr add %s/24 dev %s", p->cli, p->cli_ip, p->cli_if) ||
	    sh("ip -n %s addr add %s/24 dev %s", p->srv, p->srv_ip, p->srv_if) ||
	    sh("ip -n %s link set %s %sup", p->cli, p->cli_if, mtu_arg) ||
	    sh("ip -n %s link set %s %sup", p->srv, p->srv_if, mtu_arg) ||
	    sh("ip -n %s link set lo up", p->cli) || sh("ip -n %s link set lo up", p->srv))
		return -1;
	return 0;
}

void netpair_destroy(struct netpair *p)
{
	if (!p->made)
		return;
	sh("ip netns del %s 2>/dev/null", p->cli);
	sh("ip netns del %s 2>/dev/null", p->srv);
	p->made = false;
}

int netns_enter(const char *ns)
{
	char path[PATH_MAX];
	int fd, rc;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

static void read_out(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, cap - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* The port of the first address after "listening on " ("ip:port" or
 * "[ip6]:port", listeners separated by ", "). */
static uint16_t first_port(const char *p)
{
	size_t len = strcspn(p, ",\n");
	const char *colon = NULL;

	for (size_t i = 0; i < len; i++)
		if (p[i] == ':')
			colon = p + i;
	return colon ? (uint16_t)atoi(colon + 1) : 0;
}

int rvfd_wait_ready(pid_t pid, const char *out, char *text, size_t cap, uint16_t *port, int *status)
{
	for (int i = 0; i < 3000; i++) {
		const char *p;
		int st;

		read_out(out, text, cap);
		if (strstr(text, "rvfd: ready") && (p = strstr(text, "listening on "))) {
			*port = first_port(p + 13);
			return 0;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			read_out(out, text, cap);
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return -ECHILD;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}
