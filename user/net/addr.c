/*
 * net/addr.c - numeric socket addresses ("ADDR:PORT") and bound UDP sockets.
 * No name resolution: a daemon's listen address and a client's target are
 * literals, so a typo is an error rather than a lookup.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "net/net.h"
#include "rvf/svc.h"

int net_addr_parse(const char *s, struct net_addr *out)
{
	char host[64];
	const char *colon, *port_s;
	struct net_addr a;
	unsigned long port;
	char *end;

	memset(&a, 0, sizeof(a));
	if (!s || !*s)
		return log_fail(-EINVAL, "address: empty (expected ADDR:PORT, e.g. 127.0.0.1:7407)");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return log_fail(-EINVAL, "address '%s': expected [IPv6]:PORT", s);
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port_s = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
			return log_fail(-EINVAL, "address '%s': expected ADDR:PORT (e.g. 127.0.0.1:7407)", s);
		if (memchr(s, ':', (size_t)(colon - s)))
			return log_fail(-EINVAL, "address '%s': write an IPv6 address as [ADDR]:PORT", s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port_s = colon + 1;
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || errno || port > 65535 || *port_s == '-' || *port_s == '+')
		return log_fail(-EINVAL, "address '%s': port '%s' is not a number 0..65535", s, port_s);
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return log_fail(-EINVAL, "address '%s': '%s' is not an IPv4 address (names are "
					"not resolved)", s, host);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		a.len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return log_fail(-EINVAL, "address '%s': '%s' is not an IPv6 address", s, host);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a.len = sizeof(*in6);
	}
	*out = a;
	return 0;
}

void net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, h, sizeof(h));
		snprintf(buf, len, "%s:%u", h, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof(h));
		snprintf(buf, len, "[%s]:%u", h, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "(family %u)", sa->sa_family);
	}
}

uint16_t net_addr_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

void net_addr_set_port(struct net_addr *a, uint16_t port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
}

int net_udp_bind(struct net_addr *a, bool reuseport, int *out)
{
	char name[80];
	int fd, one = 1, err;
	struct net_addr got;

	net_addr_str((const struct sockaddr *)&a->ss, name, sizeof(name));
	fd = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_fail(-errno, "%s: socket: %s", name, strerror(errno));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) {
		err = -errno;
		log_error("%s: SO_REUSEPORT: %s", name, strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len)) {
		err = -errno;
		if (err == -EADDRINUSE)
			log_error("%s: address already in use (another rvfd or program has this port)", name);
		else if (err == -EADDRNOTAVAIL)
			log_error("%s: no local interface has this address", name);
		else
			log_error("%s: bind: %s", name, strerror(-err));
		goto fail;
	}
	got.len = sizeof(got.ss);
	if (getsockname(fd, (struct sockaddr *)&got.ss, &got.len)) {
		err = -errno;
		log_error("%s: getsockname: %s", name, strerror(errno));
		goto fail;
	}
	*a = got;
	*out = fd;
	return 0;
fail:
	close(fd);
	return err;
}

const char *net_io_name(enum net_io_kind k)
{
	return k == NET_IO_URING ? "io_uring" : k == NET_IO_SYSCALL ? "syscall" : "unknown";
}

int net_udp_buffers(int fd, int bytes)
{
	int got = 0;
	socklen_t gl = sizeof(got);

	/* a burst of queries (or of junk a filter could not drop) waits here
	 * while the workers search: room for thousands of datagrams, not the
	 * default's few dozen */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
	return got;
}

int rvf_svc_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct net_addr a;
	int err;

	if (!ss || !len)
		return -EINVAL;
	err = net_addr_parse(s, &a);
	if (err)
		return err;
	*ss = a.ss;
	*len = a.len;
	return 0;
}
