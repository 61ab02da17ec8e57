/*
 * tools/rvf/cmd_payload.c - KERNEL and EBPF segments: embed a kernel image or
 * an eBPF object (with RVF's 128-byte KernelHeader / 64-byte EbpfHeader and
 * SHA-256 hashes, written by the library) and extract them again, the hash
 * verified on the way out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rvf/svc.h"
#include "cli.h"

struct name_val { const char *name; unsigned val; };

static int lookup(const char *opt, const struct name_val *t, size_t n, const char *s, unsigned *out)
{
	char list[256] = "";

	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, s)) {
			*out = t[i].val;
			return 0;
		}
	for (size_t i = 0; i < n; i++) {
		strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, t[i].name, sizeof(list) - strlen(list) - 1);
	}
	cli_err("%s: unknown value '%s' (%s)", opt, s, list);
	return -EINVAL;
}

static const char *rlookup(const struct name_val *t, size_t n, unsigned v)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].val == v)
			return t[i].name;
	return "unknown";
}

#define N(t) (sizeof(t) / sizeof(t[0]))

static const struct name_val arches[] = {
	{ "x86_64", RVF_ARCH_X86_64 }, { "aarch64", RVF_ARCH_AARCH64 },
	{ "riscv64", RVF_ARCH_RISCV64 }, { "universal", RVF_ARCH_UNIVERSAL },
	{ "unknown", RVF_ARCH_UNKNOWN },
};
static const struct name_val ktypes[] = {
	{ "hermit", RVF_KTYPE_HERMIT }, { "microlinux", RVF_KTYPE_MICROLINUX },
	{ "asterinas", RVF_KTYPE_ASTERINAS }, { "wasip2", RVF_KTYPE_WASIP2 },
	{ "custom", RVF_KTYPE_CUSTOM }, { "test-stub", RVF_KTYPE_TEST_STUB },
};
static const struct name_val transports[] = {
	{ "tcp-http", RVF_API_TCP_HTTP }, { "grpc", RVF_API_GRPC }, { "vsock", RVF_API_VSOCK },
	{ "shmem", RVF_API_SHMEM }, { "none", RVF_API_NONE },
};
static const struct name_val kflags[] = {
	{ "requires-tee", RVF_KERNEL_F_REQUIRES_TEE }, { "requires-kvm", RVF_KERNEL_F_REQUIRES_KVM },
	{ "requires-uefi", RVF_KERNEL_F_REQUIRES_UEFI },
	{ "networking", RVF_KERNEL_F_HAS_NETWORKING }, { "query-api", RVF_KERNEL_F_HAS_QUERY_API },
	{ "ingest-api", RVF_KERNEL_F_HAS_INGEST_API }, { "admin-api", RVF_KERNEL_F_HAS_ADMIN_API },
	{ "attestation-ready", RVF_KERNEL_F_ATTESTATION_READY }, { "signed", RVF_KERNEL_F_SIGNED },
	{ "measured", RVF_KERNEL_F_MEASURED }, { "relocatable", RVF_KERNEL_F_RELOCATABLE },
	{ "virtio-net", RVF_KERNEL_F_HAS_VIRTIO_NET }, { "virtio-blk", RVF_KERNEL_F_HAS_VIRTIO_BLK },
	{ "vsock", RVF_KERNEL_F_HAS_VSOCK },
};
static const struct name_val ptypes[] = {
	{ "xdp", RVF_EBPF_PROG_XDP_DISTANCE }, { "tc", RVF_EBPF_PROG_TC_FILTER },
	{ "socket-filter", RVF_EBPF_PROG_SOCKET_FILTER }, { "tracepoint", RVF_EBPF_PROG_TRACEPOINT },
	{ "kprobe", RVF_EBPF_PROG_KPROBE }, { "cgroup-skb", RVF_EBPF_PROG_CGROUP_SKB },
	{ "custom", RVF_EBPF_PROG_CUSTOM },
};
static const struct name_val atypes[] = {
	{ "xdp-ingress", RVF_EBPF_ATTACH_XDP_INGRESS }, { "tc-ingress", RVF_EBPF_ATTACH_TC_INGRESS },
	{ "tc-egress", RVF_EBPF_ATTACH_TC_EGRESS },
	{ "socket-filter", RVF_EBPF_ATTACH_SOCKET_FILTER },
	{ "cgroup-ingress", RVF_EBPF_ATTACH_CGROUP_INGRESS },
	{ "cgroup-egress", RVF_EBPF_ATTACH_CGROUP_EGRESS }, { "none", RVF_EBPF_ATTACH_NONE },
};

/* Default attach point for a program type. */
static unsigned default_attach(unsigned ptype)
{
	switch (ptype) {
	case RVF_EBPF_PROG_XDP_DISTANCE: return RVF_EBPF_ATTACH_XDP_INGRESS;
	case RVF_EBPF_PROG_TC_FILTER: return RVF_EBPF_ATTACH_TC_INGRESS;
	case RVF_EBPF_PROG_SOCKET_FILTER: return RVF_EBPF_ATTACH_SOCKET_FILTER;
	case RVF_EBPF_PROG_CGROUP_SKB: return RVF_EBPF_ATTACH_CGROUP_INGRESS;
	default: return RVF_EBPF_ATTACH_NONE;
	}
}

/* ---- embed-kernel --------------------------------------------------------- */

static const char embed_kernel_usage[] =
	"usage: rvf embed-kernel FILE IMAGE [options]\n"
	"\n"
	"Store the kernel image IMAGE in a KERNEL segment of FILE (RVF KernelHeader\n"
	"with the image's SHA-256; the newest KERNEL segment is the one in effect).\n"
	"\n"
	"  --arch A           x86_64 (default), aarch64, riscv64, universal, unknown\n"
	"  --type T           hermit, microlinux (default), asterinas, wasip2, custom, test-stub\n"
	"  --cmdline S        kernel command line\n"
	"  --api-port P       port of the kernel's API (0..65535)\n"
	"  --api-transport T  tcp-http (default), grpc, vsock, shmem, none\n"
	"  --api-version V    API version number\n"
	"  --min-memory MB    minimum memory in MiB\n"
	"  --vcpus N          vCPU count\n"
	"  --entry ADDR       entry point (decimal or 0x hex)\n"
	"  --flags LIST       comma-separated: requires-tee, requires-kvm, requires-uefi,\n"
	"                     networking, query-api, ingest-api, admin-api,\n"
	"                     attestation-ready, signed, measured, relocatable,\n"
	"                     virtio-net, virtio-blk, vsock\n"
	"  --bind             add a KernelBinding whose manifest_root_hash is the SHA-256\n"
	"                     of FILE's committed state (ties the kernel to this data)\n"
	"  --policy-hash HEX  binding policy_hash (64 hex digits; implies --bind)\n"
	"  --allowed-segments MASK  binding allowed_segment_mask (implies --bind)\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n";

int cmd_embed_kernel(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "arch", required_argument, 0, 'a' }, { "type", required_argument, 0, 't' },
		{ "cmdline", required_argument, 0, 'c' }, { "api-port", required_argument, 0, 'p' },
		{ "api-transport", required_argument, 0, 'T' }, { "api-version", required_argument, 0, 'V' },
		{ "min-memory", required_argument, 0, 'm' }, { "vcpus", required_argument, 0, 'n' },
		{ "entry", required_argument, 0, 'e' }, { "flags", required_argument, 0, 'f' },
		{ "bind", no_argument, 0, 'b' }, { "policy-hash", required_argument, 0, 'P' },
		{ "allowed-segments", required_argument, 0, 'A' },
		{ "lock-timeout", required_argument, 0, 'L' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct rvf_kernel_opts ko = { .arch = RVF_ARCH_X86_64, .kernel_type = RVF_KTYPE_MICROLINUX,
				      .api_transport = RVF_API_TCP_HTTP };
	struct rvf_kernel_binding kb = { .binding_version = RVF_KERNEL_BINDING_VERSION };
	bool bind = false;
	const char *path, *image_path;
	void *image = NULL;
	size_t image_len;
	struct rvf_store *s = NULL;
	uint64_t seg_id = 0, v;
	unsigned u;
	uint32_t v32;
	int c, rc, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, embed_kernel_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'a':
			if (lookup("--arch", arches, N(arches), optarg, &u))
				return EXIT_USAGE;
			ko.arch = (uint8_t)u;
			break;
		case 't':
			if (lookup("--type", ktypes, N(ktypes), optarg, &u))
				return EXIT_USAGE;
			ko.kernel_type = (uint8_t)u;
			break;
		case 'c':
			ko.cmdline = optarg;
			ko.cmdline_len = strlen(optarg);
			break;
		case 'p':
			if (cli_u32("--api-port", optarg, 0, 65535, &v32))
				return EXIT_USAGE;
			ko.api_port = (uint16_t)v32;
			break;
		case 'T':
			if (lookup("--api-transport", transports, N(transports), optarg, &u))
				return EXIT_USAGE;
			ko.api_transport = (uint8_t)u;
			break;
		case 'V':
			if (cli_u32("--api-version", optarg, 0, UINT32_MAX, &ko.api_version))
				return EXIT_USAGE;
			break;
		case 'm':
			if (cli_u32("--min-memory", optarg, 0, UINT32_MAX, &ko.min_memory_mb))
				return EXIT_USAGE;
			break;
		case 'n':
			if (cli_u32("--vcpus", optarg, 0, UINT32_MAX, &ko.vcpu_count))
				return EXIT_USAGE;
			break;
		case 'e':
			if (cli_u64("--entry", optarg, &ko.entry_point))
				return EXIT_USAGE;
			break;
		case 'f': {
			char *copy = strdup(optarg), *save = NULL, *tok;

			if (!copy)
				return 1;
			for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (lookup("--flags", kflags, N(kflags), tok, &u)) {
					free(copy);
					return EXIT_USAGE;
				}
				ko.kernel_flags |= u;
			}
			free(copy);
			break;
		}
		case 'b': bind = true; break;
		case 'P':
			if (cli_parse_hex("--policy-hash", optarg, kb.policy_hash, 32))
				return EXIT_USAGE;
			bind = true;
			break;
		case 'A':
			if (cli_u64("--allowed-segments", optarg, &v))
				return EXIT_USAGE;
			kb.allowed_segment_mask = v;
			bind = true;
			break;
		case 'L':
			if (cli_u32("--lock-timeout", optarg, 1, UINT32_MAX, &cli_lock_timeout_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc) {
		cli_err("expected FILE and IMAGE (see rvf embed-kernel --help)");
		return EXIT_USAGE;
	}
	path = argv[optind];
	image_path = argv[optind + 1];
	if (cli_read_file(image_path, &image, &image_len))
		return 1;
	if (image_len == 0) {
		cli_err("%s: empty kernel image", image_path);
		goto out;
	}
	if (cli_open_rw(path, &s))
		goto out;
	cli_clear_lib_err();
	if (bind && (rc = rvf_store_state_hash(s, kb.manifest_root_hash))) {
		cli_lib_err(path, "cannot hash the store for --bind", rc);
		goto out;
	}
	rc = rvf_store_embed_kernel(s, &ko, image, image_len, bind ? &kb : NULL, &seg_id);
	if (rc) {
		cli_lib_err(path, "cannot embed the kernel", rc);
		goto out;
	}
	printf("embedded %s (%zu bytes, %s, %s%s) in %s as segment %llu\n", image_path, image_len,
	       rlookup(arches, N(arches), ko.arch), rlookup(ktypes, N(ktypes), ko.kernel_type),
	       bind ? ", bound" : "", path, (unsigned long long)seg_id);
	ret = 0;
out:
	if (s && cli_close(s, path))
		ret = 1;
	free(image);
	return ret;
}

/* ---- extract-kernel ------------------------------------------------------- */

static const char extract_kernel_usage[] =
	"usage: rvf extract-kernel FILE OUT\n"
	"\n"
	"Write the newest embedded kernel image to OUT (its SHA-256 checked) and\n"
	"print its header: arch, type, flags, API, cmdline, binding.\n";

int cmd_extract_kernel(int argc, char **argv)
{
	static const struct option lo[] = { { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
	struct rvf_store *s;
	struct rvf_kernel_hdr h;
	struct rvf_kernel_binding kb;
	void *image = NULL, *cmdline = NULL;
	size_t image_len = 0, cmd_len = 0;
	char hx[65];
	int c, rc, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, extract_kernel_usage)) != -1)
		return c == 'h' ? 0 : EXIT_USAGE;
	if (optind + 2 != argc) {
		cli_err("expected FILE and OUT (see rvf extract-kernel --help)");
		return EXIT_USAGE;
	}
	if (cli_open_ro(argv[optind], &s))
		return 1;
	cli_clear_lib_err();
	rc = rvf_store_extract_kernel(s, &h, &image, &image_len, &cmdline, &cmd_len);
	if (rc == -ENOENT) {
		cli_err("%s: no kernel embedded", argv[optind]);
		goto out;
	}
	if (rc) {
		cli_lib_err(argv[optind], "cannot extract the kernel", rc);
		goto out;
	}
	if (cli_write_file(argv[optind + 1], image, image_len))
		goto out;
	cli_hex(h.image_hash, 32, hx);
	printf("wrote %s: %zu bytes, sha256 %s\n", argv[optind + 1], image_len, hx);
	printf("arch %s, type %s, flags 0x%08x, api %s port %u version %u, min memory %u MiB, "
	       "vcpus %u, entry 0x%llx\n", rlookup(arches, N(arches), h.arch),
	       rlookup(ktypes, N(ktypes), h.kernel_type), h.kernel_flags,
	       rlookup(transports, N(transports), h.api_transport), ntohs(h.api_port_be),
	       h.api_version, h.min_memory_mb, h.vcpu_count, (unsigned long long)h.entry_point);
	printf("cmdline ");
	cli_json_str(stdout, cmdline ? cmdline : "", cmd_len);
	putchar('\n');
	rc = rvf_store_extract_kernel_binding(s, &kb);
	if (rc == 0) {
		char mh[65], ph[65];

		cli_hex(kb.manifest_root_hash, 32, mh);
		cli_hex(kb.policy_hash, 32, ph);
		printf("binding version %u, manifest_root_hash %s, policy_hash %s, allowed segments "
		       "0x%llx\n", kb.binding_version, mh, ph,
		       (unsigned long long)kb.allowed_segment_mask);
	} else if (rc != -ENOENT) {
		cli_lib_err(argv[optind], "cannot read the kernel binding", rc);
		goto out;
	}
	ret = 0;
out:
	free(image);
	free(cmdline);
	rvf_store_close(s);
	return ret;
}

/* ---- embed-ebpf ----------------------------------------------------------- */

_Static_assert(RVF_WIRE_MAX_DIM == 16384, "embed-ebpf --help names it");
static const char embed_ebpf_usage[] =
	"usage: rvf embed-ebpf FILE PROG.o [--type T] [--attach A] [--max-dim N] [--btf F]\n"
	"       rvf embed-ebpf FILE --builtin [--max-dim N]\n"
	"\n"
	"Store the eBPF ELF object PROG.o in an EBPF segment of FILE (RVF EbpfHeader\n"
	"with the program's SHA-256, instruction and map counts from the ELF).\n"
	"--builtin stores the query prefilter this rvf was built with (the one rvfd\n"
	"trusts): type socket-filter, max-dim 16384 (RVF_WIRE_MAX_DIM) unless given.\n"
	"\n"
	"  --type T      xdp (default), tc, socket-filter, tracepoint, kprobe, cgroup-skb, custom\n"
	"  --attach A    xdp-ingress, tc-ingress, tc-egress, socket-filter, cgroup-ingress,\n"
	"                cgroup-egress, none (default: the natural one for --type)\n"
	"  --max-dim N   largest query dimension the program accepts (default: the store's)\n"
	"  --btf F       BTF blob to store with it\n"
	"  --flags N     program_flags value\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n";

int cmd_embed_ebpf(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "type", required_argument, 0, 't' }, { "attach", required_argument, 0, 'a' },
		{ "max-dim", required_argument, 0, 'm' }, { "btf", required_argument, 0, 'b' },
		{ "flags", required_argument, 0, 'f' }, { "lock-timeout", required_argument, 0, 'L' },
		{ "builtin", no_argument, 0, 'B' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct rvf_ebpf_opts eo = { .program_type = RVF_EBPF_PROG_XDP_DISTANCE };
	bool have_attach = false, have_type = false, builtin = false;
	const char *btf_path = NULL, *path, *prog_path;
	void *prog = NULL, *btf = NULL;
	size_t prog_len, btf_len = 0;
	struct rvf_store *s = NULL;
	uint64_t seg_id = 0;
	uint32_t v32;
	unsigned u;
	int c, rc, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, embed_ebpf_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'B': builtin = true; break;
		case 't':
			if (lookup("--type", ptypes, N(ptypes), optarg, &u))
				return EXIT_USAGE;
			eo.program_type = (uint8_t)u;
			have_type = true;
			break;
		case 'a':
			if (lookup("--attach", atypes, N(atypes), optarg, &u))
				return EXIT_USAGE;
			eo.attach_type = (uint8_t)u;
			have_attach = true;
			break;
		case 'm':
			if (cli_u32("--max-dim", optarg, 1, 65535, &v32))
				return EXIT_USAGE;
			eo.max_dimension = (uint16_t)v32;
			break;
		case 'b': btf_path = optarg; break;
		case 'f':
			if (cli_u32("--flags", optarg, 0, UINT32_MAX, &eo.program_flags))
				return EXIT_USAGE;
			break;
		case 'L':
			if (cli_u32("--lock-timeout", optarg, 1, UINT32_MAX, &cli_lock_timeout_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + (builtin ? 1 : 2) != argc) {
		cli_err(builtin ? "expected FILE only with --builtin (see rvf embed-ebpf --help)"
				: "expected FILE and PROG.o (see rvf embed-ebpf --help)");
		return EXIT_USAGE;
	}
	if (builtin && !have_type)
		eo.program_type = RVF_EBPF_PROG_SOCKET_FILTER;
	if (builtin && !eo.max_dimension)
		eo.max_dimension = RVF_WIRE_MAX_DIM;
	if (!have_attach)
		eo.attach_type = (uint8_t)default_attach(eo.program_type);
	path = argv[optind];
	prog_path = builtin ? "the built-in prefilter" : argv[optind + 1];
	if (builtin) {
		const void *obj = rvf_bpf_builtin(&prog_len);

		prog = malloc(prog_len);
		if (!prog) {
			cli_err("out of memory");
			return 1;
		}
		memcpy(prog, obj, prog_len);
	} else if (cli_read_file(prog_path, &prog, &prog_len)) {
		return 1;
	}
	if (btf_path && cli_read_file(btf_path, &btf, &btf_len))
		goto out;
	if (cli_open_rw(path, &s))
		goto out;
	cli_clear_lib_err();
	rc = rvf_store_embed_ebpf(s, &eo, prog, prog_len, btf, btf_len, &seg_id);
	if (rc == -ENOEXEC) {
		cli_err("%s: cannot embed %s: not an eBPF ELF object (build one with clang -O2 -g "
			"-target bpf -c prog.bpf.c)", path, prog_path);
		goto out;
	}
	if (rc) {
		char what[300];

		snprintf(what, sizeof(what), "cannot embed %s", prog_path);
		cli_lib_err(path, what, rc);
		goto out;
	}
	printf("embedded %s (%zu bytes%s, %s, %s) in %s as segment %llu\n", prog_path, prog_len,
	       btf_len ? " + BTF" : "", rlookup(ptypes, N(ptypes), eo.program_type),
	       rlookup(atypes, N(atypes), eo.attach_type), path, (unsigned long long)seg_id);
	ret = 0;
out:
	if (s && cli_close(s, path))
		ret = 1;
	free(prog);
	free(btf);
	return ret;
}

/* ---- extract-ebpf --------------------------------------------------------- */

static const char extract_ebpf_usage[] =
	"usage: rvf extract-ebpf FILE OUT [--btf-out F]\n"
	"\n"
	"Write the newest embedded eBPF object to OUT (its SHA-256 checked) and print\n"
	"its header. --btf-out also writes the stored BTF (if any) to F.\n";

int cmd_extract_ebpf(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "btf-out", required_argument, 0, 'b' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *btf_out = NULL;
	struct rvf_store *s;
	struct rvf_ebpf_hdr h;
	void *prog = NULL, *btf = NULL;
	size_t prog_len = 0, btf_len = 0;
	char hx[65];
	int c, rc, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, extract_ebpf_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'b': btf_out = optarg; break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc) {
		cli_err("expected FILE and OUT (see rvf extract-ebpf --help)");
		return EXIT_USAGE;
	}
	if (cli_open_ro(argv[optind], &s))
		return 1;
	cli_clear_lib_err();
	rc = rvf_store_extract_ebpf(s, &h, &prog, &prog_len, btf_out ? &btf : NULL,
				    btf_out ? &btf_len : NULL);
	if (rc == -ENOENT) {
		cli_err("%s: no eBPF program embedded", argv[optind]);
		goto out;
	}
	if (rc) {
		cli_lib_err(argv[optind], "cannot extract the eBPF program", rc);
		goto out;
	}
	if (cli_write_file(argv[optind + 1], prog, prog_len))
		goto out;
	if (btf_out) {
		if (!btf_len) {
			cli_err("%s: no BTF stored with the program (--btf-out)", argv[optind]);
			goto out;
		}
		if (cli_write_file(btf_out, btf, btf_len))
			goto out;
	}
	cli_hex(h.program_hash, 32, hx);
	printf("wrote %s: %zu bytes, sha256 %s\n", argv[optind + 1], prog_len, hx);
	printf("type %s, attach %s, flags 0x%x, %u instructions, %u maps, max dimension %u, "
	       "BTF %u bytes\n", rlookup(ptypes, N(ptypes), h.program_type),
	       rlookup(atypes, N(atypes), h.attach_type), h.program_flags, h.insn_count,
	       h.map_count, h.max_dimension, h.btf_size);
	ret = 0;
out:
	free(prog);
	free(btf);
	rvf_store_close(s);
	return ret;
}
