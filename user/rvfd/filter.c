/*
 * rvfd/filter.c - the kernel filter in front of the workers' sockets, as a
 * ladder chosen once at start and logged once:
 *
 *   ebpf   the store's prefilter (or the built-in one) as a socket filter on
 *          every worker socket, plus XDP on --iface        (user/bpfload)
 *   cbpf   a classic BPF socket filter checking length, magic, version and
 *          dim: needs no privilege                            (user/bpfload)
 *   none   userspace validation only
 *
 * Userspace re-validates every datagram at every level (handle.c): a kernel
 * filter only sheds load early.
 *
 * This build has no BPF loader yet (user/bpfload lands separately), so the
 * ladder stops at its bottom rung and says so.
 */
#include <errno.h>
#include <stdio.h>

#include "rvfd/rvfd.h"

int filter_setup(struct rvfd *d)
{
	d->filter_level = RVFD_FILTER_NONE;
	snprintf(d->filter_why, sizeof(d->filter_why),
		 "this rvfd was built without the BPF loader; datagrams are validated in userspace");
	return 0;
}

int filter_attach_socket(struct rvfd *d, int fd)
{
	(void)d;
	(void)fd;
	return 0;
}

void filter_teardown(struct rvfd *d)
{
	(void)d;
}

int filter_counters(struct rvfd *d, uint32_t slot, struct rvf_wire_counters *out)
{
	(void)d;
	(void)slot;
	(void)out;
	return -ENOENT;
}
