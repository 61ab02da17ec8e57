/*
 * tools/rvf/cmd_admin.c - commands about the store as a whole: status,
 * segments, compact, verify, derive. status and segments open read-only (no
 * lock: they work while a writer is busy) and print text or --json.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static int one_file(int argc, char **argv, const char *usage, bool *json)
{
	static const struct option lo[] = {
		{ "json", no_argument, 0, 'j' }, { "lock-timeout", required_argument, 0, 'L' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	while ((c = cli_getopt(argc, argv, ":h", lo, usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'j':
			if (!json) {
				cli_err("unknown option '--json' (see rvf %s --help)", cli_cmd);
				return EXIT_USAGE;
			}
			*json = true;
			break;
		case 'L':
			if (cli_u32("--lock-timeout", optarg, 1, UINT32_MAX, &cli_lock_timeout_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_err("expected one FILE (see rvf %s --help)", cli_cmd);
		return EXIT_USAGE;
	}
	return -1;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char buf[129];

	cli_hex(p, n, buf);
	return json_string(buf);
}

static int print_json(json_t *o)
{
	int rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	putchar('\n');
	json_decref(o);
	return rc || fflush(stdout) ? 1 : 0;
}

static void human_size(uint64_t b, char *out, size_t n)
{
	if (b >= (1ull << 30))
		snprintf(out, n, "%.2f GiB", (double)b / (1ull << 30));
	else if (b >= (1ull << 20))
		snprintf(out, n, "%.2f MiB", (double)b / (1ull << 20));
	else if (b >= 1024)
		snprintf(out, n, "%.1f KiB", (double)b / 1024);
	else
		snprintf(out, n, "%llu B", (unsigned long long)b);
}

/* ---- status --------------------------------------------------------------- */

static const char *quant_name(uint32_t q)
{
	return q == RVF_HNSW_QUANT_NONE ? "float32" : "sq8";
}

static const char status_usage[] =
	"usage: rvf status FILE [--json]\n"
	"\n"
	"Vector counts, segments, file size, live and dead bytes, epoch, dimension,\n"
	"metric, profile, file identity and lineage, index parameters. Opens\n"
	"read-only (works while another process writes).\n";

int cmd_status(int argc, char **argv)
{
	bool json = false;
	int r = one_file(argc, argv, status_usage, &json);
	const char *path;
	struct rvf_store *s;
	struct rvf_store_status st;
	struct rvf_file_identity id;
	struct rvf_lineage_record lr;
	bool have_lr;
	char fid[33], pid[33], ph[65], sz[32], lb[32], db[32], mb[32];
	int rc;

	if (r >= 0)
		return r;
	path = argv[optind];
	if (cli_open_ro(path, &s))
		return 1;
	cli_clear_lib_err();
	rc = rvf_store_status(s, &st);
	if (!rc)
		rc = rvf_store_file_identity(s, &id);
	if (rc) {
		cli_lib_err(path, "cannot read status", rc);
		rvf_store_close(s);
		return 1;
	}
	have_lr = rvf_store_derivation(s, &lr) == 0;
	struct rvf_cow_stats cs;
	bool cow = rvf_store_cow_stats(s, &cs) == 0;
	char *parent = cow ? strdup(rvf_store_parent_path(s)) : NULL;
	struct rvf_membership_info mi;
	bool have_mi = rvf_store_membership_filter(s, &mi) == 0;
	rvf_store_close(s);
	cli_hex(id.file_id, 16, fid);
	cli_hex(id.parent_id, 16, pid);
	cli_hex(id.parent_hash, 32, ph);

	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "file", json_string(path));
		json_object_set_new(o, "dimension", json_integer(st.dimension));
		json_object_set_new(o, "metric", json_string(rvf_metric_name(st.metric)));
		json_object_set_new(o, "profile", json_string(cli_profile_name(st.profile)));
		json_object_set_new(o, "live_vectors", json_integer((json_int_t)st.live_vectors));
		json_object_set_new(o, "deleted_vectors", json_integer((json_int_t)st.deleted_vectors));
		json_object_set_new(o, "segments", json_integer((json_int_t)st.segments));
		json_object_set_new(o, "file_size", json_integer((json_int_t)st.file_size));
		json_object_set_new(o, "live_bytes", json_integer((json_int_t)st.live_bytes));
		json_object_set_new(o, "dead_bytes", json_integer((json_int_t)st.dead_bytes));
		json_object_set_new(o, "dead_space_ratio", json_real(st.dead_space_ratio));
		json_object_set_new(o, "epoch", json_integer((json_int_t)st.epoch));
		json_object_set_new(o, "frozen", json_boolean(st.frozen));
		json_object_set_new(o, "file_id", json_string(fid));
		json_object_set_new(o, "parent_id", json_string(pid));
		json_object_set_new(o, "parent_hash", json_string(ph));
		json_object_set_new(o, "lineage_depth", json_integer(id.lineage_depth));
		if (have_lr)
			json_object_set_new(o, "derivation",
					    json_string(cli_derivation_name(lr.derivation_type)));
		if (have_mi) {
			json_t *m = json_object();
			json_object_set_new(m, "mode", json_string(mi.mode == RVF_MEMBERSHIP_INCLUDE ?
								   "include" : "exclude"));
			json_object_set_new(m, "ids", json_integer((json_int_t)mi.n));
			json_object_set_new(m, "visible", json_integer((json_int_t)mi.visible));
			json_object_set_new(m, "generation", json_integer(mi.generation));
			json_object_set_new(m, "inherited", json_boolean(mi.inherited));
			json_object_set_new(o, "membership", m);
		}
		if (cow) {
			json_t *m = json_object();
			json_object_set_new(m, "parent", json_string(parent));
			json_object_set_new(m, "cluster_count", json_integer(cs.cluster_count));
			json_object_set_new(m, "local_clusters", json_integer(cs.local_cluster_count));
			json_object_set_new(m, "cluster_size", json_integer(cs.cluster_size));
			json_object_set_new(m, "vectors_per_cluster", json_integer(cs.vectors_per_cluster));
			json_object_set_new(m, "snapshot_epoch", json_integer((json_int_t)cs.snapshot_epoch));
			json_object_set_new(m, "pending_writes", json_integer((json_int_t)cs.pending_writes));
			json_object_set_new(m, "parent_vectors", json_integer((json_int_t)cs.parent_vectors));
			json_object_set_new(m, "hidden_parent_vectors",
					    json_integer((json_int_t)cs.hidden_parent_vectors));
			json_object_set_new(m, "local_vectors", json_integer((json_int_t)cs.local_vectors));
			json_object_set_new(o, "cow", m);
		}
		free(parent);
		if (st.has_index) {
			json_t *ix = json_object();

			json_object_set_new(ix, "M", json_integer(st.index_m));
			json_object_set_new(ix, "ef_construction", json_integer(st.index_ef_construction));
			json_object_set_new(ix, "quant", json_string(quant_name(st.index_quant)));
			json_object_set_new(ix, "nodes", json_integer((json_int_t)st.index_nodes));
			json_object_set_new(ix, "memory_bytes", json_integer((json_int_t)st.index_memory_bytes));
			json_object_set_new(o, "index", ix);
		}
		return print_json(o);
	}
	human_size(st.file_size, sz, sizeof(sz));
	human_size(st.live_bytes, lb, sizeof(lb));
	human_size(st.dead_bytes, db, sizeof(db));
	printf("file            %s\n", path);
	printf("dimension       %u\n", st.dimension);
	printf("metric          %s\n", rvf_metric_name(st.metric));
	printf("profile         %s\n", cli_profile_name(st.profile));
	printf("live vectors    %llu\n", (unsigned long long)st.live_vectors);
	printf("deleted         %llu\n", (unsigned long long)st.deleted_vectors);
	printf("segments        %llu (incl. the graph checkpoint)\n", (unsigned long long)st.segments);
	printf("file size       %s (%llu bytes)\n", sz, (unsigned long long)st.file_size);
	printf("live bytes      %s\n", lb);
	printf("dead bytes      %s (%.1f%% of the file)\n", db, 100.0 * st.dead_space_ratio);
	printf("epoch           %llu\n", (unsigned long long)st.epoch);
	printf("frozen          %s\n", st.frozen ? "yes" : "no");
	printf("file id         %s\n", fid);
	if (id.lineage_depth || !cli_all_zero(id.parent_id, 16)) {
		printf("parent id       %s\n", pid);
		printf("parent hash     %s\n", ph);
	}
	printf("lineage depth   %u\n", id.lineage_depth);
	if (have_lr)
		printf("derivation      %s\n", cli_derivation_name(lr.derivation_type));
	if (have_mi)
		printf("membership      %s %zu ids%s (generation %u), %llu vectors visible\n",
		       mi.mode == RVF_MEMBERSHIP_INCLUDE ? "include" : "exclude", mi.n,
		       mi.inherited ? ", inherited from the parent" : "", mi.generation,
		       (unsigned long long)mi.visible);
	else
		printf("membership      none\n");
	if (cow) {
		printf("cow parent      %s (epoch %llu)\n", parent, (unsigned long long)cs.snapshot_epoch);
		printf("cow clusters    %u (%u local), %u bytes, %u vectors per cluster\n", cs.cluster_count,
		       cs.local_cluster_count, cs.cluster_size, cs.vectors_per_cluster);
		printf("cow vectors     %llu from the parent (%llu of them hidden here), %llu local, "
		       "%llu pending writes\n", (unsigned long long)cs.parent_vectors,
		       (unsigned long long)cs.hidden_parent_vectors, (unsigned long long)cs.local_vectors,
		       (unsigned long long)cs.pending_writes);
	}
	free(parent);
	if (st.has_index) {
		human_size(st.index_memory_bytes, mb, sizeof(mb));
		printf("index           HNSW M=%u ef_construction=%u %s, %llu nodes "
		       "(incl. tombstones), %s in memory\n", st.index_m, st.index_ef_construction,
		       quant_name(st.index_quant), (unsigned long long)st.index_nodes, mb);
	}
	return fflush(stdout) ? 1 : 0;
}

/* ---- segments ------------------------------------------------------------- */

static const char segments_usage[] =
	"usage: rvf segments FILE [--json]\n"
	"\n"
	"The committed segments: id, type, flags, payload bytes, the commit that wrote\n"
	"it, file offset and content hash (XXH3-128). Opens read-only.\n";

int cmd_segments(int argc, char **argv)
{
	bool json = false;
	int r = one_file(argc, argv, segments_usage, &json);
	const char *path;
	struct rvf_store *s;
	struct rvf_dir_segment *seg = NULL;
	size_t n = 0, vi_fields = 0;
	int rc;

	if (r >= 0)
		return r;
	path = argv[optind];
	if (cli_open_ro(path, &s))
		return 1;
	cli_clear_lib_err();
	rc = rvf_store_segment_dir(s, &seg, &n);
	if (!rc) {
		struct rvf_store_status st;

		/* Not an error if this fails (a Rust file has no rvf_dir) */
		if (rvf_store_status(s, &st) == 0)
			vi_fields = st.vector_indexes;
	}
	rvf_store_close(s);
	if (rc) {
		cli_lib_err(path, "cannot list segments", rc);
		return 1;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++) {
			json_t *o = json_object();
			const char *tn = cli_seg_type_name(seg[i].type);
			char tbuf[8];

			if (!tn) {
				snprintf(tbuf, sizeof(tbuf), "0x%02X", seg[i].type);
				tn = tbuf;
			}
			json_object_set_new(o, "id", json_integer((json_int_t)seg[i].id));
			json_object_set_new(o, "type", json_string(tn));
			json_object_set_new(o, "type_code", json_integer(seg[i].type));
			json_object_set_new(o, "flags", json_integer(seg[i].flags));
			json_object_set_new(o, "payload_len", json_integer((json_int_t)seg[i].payload_len));
			json_object_set_new(o, "generation", json_integer((json_int_t)seg[i].generation));
			json_object_set_new(o, "timestamp_ns", json_integer((json_int_t)seg[i].timestamp_ns));
			json_object_set_new(o, "file_offset", json_integer((json_int_t)seg[i].file_offset));
			json_object_set_new(o, "content_hash", hex_json(seg[i].content_hash, 16));
			json_array_append_new(a, o);
		}
		free(seg);
		return print_json(a);
	}
	printf("%-20s %-10s %6s %14s %8s %14s  %s\n", "id", "type", "flags", "bytes", "gen",
	       "offset", "xxh3-128");
	for (size_t i = 0; i < n; i++) {
		const char *tn = cli_seg_type_name(seg[i].type);
		char tbuf[8], hx[33];

		if (!tn) {
			snprintf(tbuf, sizeof(tbuf), "0x%02X", seg[i].type);
			tn = tbuf;
		}
		cli_hex(seg[i].content_hash, 16, hx);
		printf("%-20llu %-10s 0x%04x %14llu %8llu %14llu  %s\n", (unsigned long long)seg[i].id,
		       tn, seg[i].flags, (unsigned long long)seg[i].payload_len,
		       (unsigned long long)seg[i].generation, (unsigned long long)seg[i].file_offset, hx);
	}
	printf("%zu segments\n", n);
	free(seg);
	if (vi_fields)
		printf("plus %zu vector index blob%s (the persisted HNSW graph, stored beside the "
		       "segments)\n", vi_fields, vi_fields == 1 ? "" : "s");
	return fflush(stdout) ? 1 : 0;
}

/* ---- compact -------------------------------------------------------------- */

static const char compact_usage[] =
	"usage: rvf compact FILE [--flatten]\n"
	"\n"
	"Rewrite the store without deleted vectors and superseded data, in place and\n"
	"crash-safe. Segments the store does not manage (KERNEL, EBPF, unknown types)\n"
	"are kept byte for byte. A COW branch keeps reading its parent.\n"
	"\n"
	"  --flatten          a branch: copy what it reads from its parent into the\n"
	"                     file and drop the parent reference (standalone store)\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n";

int cmd_compact(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "flatten", no_argument, 0, 'F' }, { "lock-timeout", required_argument, 0, 'L' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *path;
	struct rvf_store *s;
	struct rvf_compact_result res;
	unsigned flags = 0;
	int rc, c;

	while ((c = cli_getopt(argc, argv, ":h", lo, compact_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'F': flags |= RVF_COMPACT_FLATTEN; break;
		case 'L':
			if (cli_u32("--lock-timeout", optarg, 1, UINT32_MAX, &cli_lock_timeout_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_err("expected one FILE (see rvf %s --help)", cli_cmd);
		return EXIT_USAGE;
	}
	path = argv[optind];
	if (cli_open_rw(path, &s))
		return 1;
	cli_clear_lib_err();
	if ((flags & RVF_COMPACT_FLATTEN) && !rvf_store_is_cow_child(s)) {
		cli_err("%s: --flatten: not a COW branch", path);
		cli_close(s, path);
		return 1;
	}
	rc = rvf_store_compact_flags(s, flags, &res);
	if (rc) {
		cli_lib_err(path, "compaction failed", rc);
		cli_close(s, path);
		return 1;
	}
	printf("compacted %s: %llu segments rewritten or dropped, %llu bytes reclaimed (epoch %llu)\n",
	       path, (unsigned long long)res.segments_compacted,
	       (unsigned long long)res.bytes_reclaimed, (unsigned long long)res.epoch);
	return cli_close(s, path);
}

/* ---- verify --------------------------------------------------------------- */

static const char verify_usage[] =
	"usage: rvf verify FILE\n"
	"\n"
	"Full consistency check: storage structures, every segment checksum, the HNSW\n"
	"graph, index against vectors and metadata. Prints OK and exits 0, or names\n"
	"the first problem and exits 1. Opens read-only.\n";

int cmd_verify(int argc, char **argv)
{
	int r = one_file(argc, argv, verify_usage, NULL);
	const char *path;
	struct rvf_store *s;
	struct rvf_store_status st;
	int rc;

	if (r >= 0)
		return r;
	path = argv[optind];
	if (cli_open_ro(path, &s))
		return 1;
	cli_clear_lib_err();
	rc = rvf_store_verify(s);
	if (rc) {
		cli_lib_err(path, "verification failed", rc);
		rvf_store_close(s);
		return 1;
	}
	if (rvf_store_status(s, &st) == 0)
		printf("%s: OK (%llu live vectors, %llu segments, epoch %llu)\n", path,
		       (unsigned long long)st.live_vectors, (unsigned long long)st.segments,
		       (unsigned long long)st.epoch);
	else
		printf("%s: OK\n", path);
	rvf_store_close(s);
	return 0;
}

/* ---- derive --------------------------------------------------------------- */

static const char derive_usage[] =
	"usage: rvf derive PARENT CHILD [--type T]\n"
	"\n"
	"Create CHILD, an empty store with PARENT's dimension, metric and index\n"
	"parameters, whose identity records PARENT (parent id, SHA-256 of PARENT's\n"
	"committed state, depth + 1) and the derivation type T: clone (default),\n"
	"filter, merge, quantize, reindex, transform, snapshot, user-defined.\n";

int cmd_derive(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "type", required_argument, 0, 't' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	enum rvf_derivation_type type = RVF_DERIVE_CLONE;
	struct rvf_store *p = NULL, *child = NULL;
	struct rvf_file_identity id;
	char pid[33];
	int c, rc, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, derive_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 't':
			if (cli_derivation_parse(optarg, &type))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc) {
		cli_err("expected PARENT and CHILD (see rvf derive --help)");
		return EXIT_USAGE;
	}
	if (cli_open_ro(argv[optind], &p))
		return 1;
	cli_clear_lib_err();
	rc = rvf_store_derive(p, argv[optind + 1], type, NULL, &child);
	if (rc) {
		cli_lib_err(argv[optind + 1], "cannot derive", rc);
		goto out;
	}
	rvf_store_file_identity(child, &id);
	cli_hex(id.parent_id, 16, pid);
	printf("derived %s from %s (%s, depth %u, parent id %s)\n", argv[optind + 1], argv[optind],
	       cli_derivation_name(type), id.lineage_depth, pid);
	ret = cli_close(child, argv[optind + 1]);
out:
	rvf_store_close(p);
	return ret;
}
