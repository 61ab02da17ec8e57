/*
 * bpfload/bpfload_priv.h - the loader's handle and ABI tables, shared by its
 * files (not part of the service API, see bpfload.h):
 *
 *   bpfload.c   ABI check, load, pins, namespaces, socket and XDP attach
 *   maps.c      the AF_XDP socket maps and the counters
 *   segment.c   the built-in object, EBPF segment checks, classic BPF
 */
#ifndef RVF_BPFLOAD_PRIV_H
#define RVF_BPFLOAD_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <bpf/libbpf.h>

#include "bpfload/bpfload.h"

enum { MAP_NS, MAP_MEMBERS, MAP_COUNTERS, MAP_XSKS, MAP_XSKS_SG, NMAPS };
struct map_abi {
	const char *name;
	enum bpf_map_type type;
	uint32_t key, value, entries, flags;
};
extern const struct map_abi rvf_bpfload_maps[NMAPS];
#define want_maps rvf_bpfload_maps

_Static_assert(sizeof(struct rvf_wire_ns) == sizeof(uint64_t), "a shape is one u64 store");
_Static_assert(sizeof(struct rvf_wire_counters) % sizeof(uint64_t) == 0, "counters are u64s");
#define NCOUNTERS (sizeof(struct rvf_wire_counters) / sizeof(uint64_t))

/* Pins, in the order they are made: the programs, then the maps. */
#define NPINS (RVF_BPF_NPROGS + NMAPS)

struct sock_att {
	int fd;
	dev_t dev;
	ino_t ino;
};

struct xdp_att {
	int ifindex;
	int link_fd;
};

struct rvf_bpf {
	struct bpf_object *obj;
	struct bpf_program *prog[RVF_BPF_NPROGS];
	struct bpf_map *map[NMAPS];
	uint64_t *ns_words;             /* mmap of rvf_ns: one u64 shape per namespace */
	uint64_t *member_words;         /* mmap of rvf_members */
	size_t ns_len, member_len;
	char *pin_dir;                  /* NULL when not pinning */
	int pin_fd;                     /* the pin directory, or -1 */
	bool pin_locked;                /* pin_fd's flock is ours */
	bool pinned[NPINS];
	struct sock_att *socks;
	size_t nsocks;
	struct xdp_att *xdps;
	size_t nxdps;
};

/* dir/name into out (len bytes): 0, or -ENAMETOOLONG (logged). */
int rvf_bpfload_pin_path(const char *dir, const char *name, char *out, size_t len);
#define pin_path rvf_bpfload_pin_path

#endif
