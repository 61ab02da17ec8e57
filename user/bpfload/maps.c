/*
 * bpfload/maps.c - the prefilter's AF_XDP socket maps and its counters
 * (bpfload.h): what the daemon reads and writes in the loaded object's maps
 * besides the mmap'd namespace maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <byteswap.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfload/bpfload.h"
#include "bpfload/bpfload_priv.h"
#include "common/log.h"

/* ---- AF_XDP sockets ------------------------------------------------------------ */

int rvf_bpf_xsk_set(struct rvf_bpf *b, uint32_t queue, int xsk_fd, bool multi_buffer)
{
	int m;

	if (!b || queue >= RVF_WIRE_XSK_QUEUES || xsk_fd < 0)
		return log_fail(-EINVAL, "prefilter: AF_XDP queue %u out of range (< %u)", queue,
				RVF_WIRE_XSK_QUEUES);
	for (m = MAP_XSKS; m <= (multi_buffer ? MAP_XSKS_SG : MAP_XSKS); m++)
		if (bpf_map_update_elem(bpf_map__fd(b->map[m]), &queue, &xsk_fd, BPF_ANY)) {
			int err = -errno;

			rvf_bpf_xsk_clear(b, queue);
			return log_fail(err, "prefilter: cannot put the AF_XDP socket of queue %u into "
					"%s: %s", queue, want_maps[m].name, strerror(-err));
		}
	return 0;
}

int rvf_bpf_xsk_clear(struct rvf_bpf *b, uint32_t queue)
{
	int err = 0;

	if (!b || queue >= RVF_WIRE_XSK_QUEUES)
		return -EINVAL;
	for (int m = MAP_XSKS; m <= MAP_XSKS_SG; m++)
		if (bpf_map_delete_elem(bpf_map__fd(b->map[m]), &queue) && errno != ENOENT)
			err = log_fail(-errno, "prefilter: cannot clear %s[%u]: %s", want_maps[m].name,
				       queue, strerror(errno));
	return err;
}

int rvf_bpf_xsk_map_fd(const struct rvf_bpf *b)
{
	return b ? bpf_map__fd(b->map[MAP_XSKS]) : -EINVAL;
}

/* ---- counters ----------------------------------------------------------------- */

static int counters_read(int fd, uint32_t slot, struct rvf_wire_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), c, err = 0;
	uint64_t *buf, total[NCOUNTERS] = { 0 };
	size_t f;

	if (ncpu <= 0)
		return log_fail(ncpu ? ncpu : -EINVAL, "prefilter: cannot count CPUs");
	buf = calloc((size_t)ncpu, sizeof(struct rvf_wire_counters));
	if (!buf)
		return log_fail(-ENOMEM, "prefilter: out of memory");
	if (bpf_map_lookup_elem(fd, &slot, buf)) {
		err = log_fail(-errno, "prefilter: cannot read counters slot %u: %s", slot,
			       strerror(errno));
	} else {
		for (c = 0; c < ncpu; c++)
			for (f = 0; f < NCOUNTERS; f++)
				total[f] += buf[(size_t)c * NCOUNTERS + f];
		memcpy(sum, total, sizeof(*sum));
	}
	free(buf);
	return err;
}

int rvf_bpf_counters(struct rvf_bpf *b, uint32_t slot, struct rvf_wire_counters *sum)
{
	if (!b || !sum || slot >= RVF_WIRE_NSLOTS)
		return -EINVAL;
	return counters_read(bpf_map__fd(b->map[MAP_COUNTERS]), slot, sum);
}

int rvf_bpf_counters_pinned(const char *pin_dir, uint32_t slot, struct rvf_wire_counters *sum)
{
	const struct map_abi *w = &want_maps[MAP_COUNTERS];
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	char path[PATH_MAX];
	int fd, err;

	if (!pin_dir || !sum || slot >= RVF_WIRE_NSLOTS)
		return -EINVAL;
	err = pin_path(pin_dir, w->name, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return log_fail(fd, "%s: %s%s", path, strerror(-fd),
				fd == -ENOENT ? " (is rvfd running with this pin dir?)" : "");
	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		err = log_fail(err, "%s: %s", path, strerror(-err));
	else if (info.type != (uint32_t)w->type || info.key_size != w->key ||
		 info.value_size != w->value || info.max_entries != w->entries)
		err = log_fail(-EPROTO, "%s is not the counters map this rvf knows (type %u key %u "
			       "value %u entries %u)", path, info.type, info.key_size,
			       info.value_size, info.max_entries);
	else
		err = counters_read(fd, slot, sum);
	close(fd);
	return err;
}

int rvf_bpf_set_user_counters(struct rvf_bpf *b, const struct rvf_wire_counters *c)
{
	uint32_t slot = RVF_WIRE_SLOT_USER;
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	struct rvf_wire_counters *buf;

	if (!b || !c)
		return -EINVAL;
	if (ncpu <= 0)
		return log_fail(ncpu ? ncpu : -EINVAL, "prefilter: cannot count CPUs");
	buf = calloc((size_t)ncpu, sizeof(*buf));
	if (!buf)
		return log_fail(-ENOMEM, "prefilter: out of memory");
	buf[0] = *c;
	if (bpf_map_update_elem(bpf_map__fd(b->map[MAP_COUNTERS]), &slot, buf, BPF_ANY))
		err = log_fail(-errno, "prefilter: cannot write the user counters: %s", strerror(errno));
	free(buf);
	return err;
}
