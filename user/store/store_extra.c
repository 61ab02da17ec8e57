/*
 * store/store_extra.c - identity and lineage (derive, state hash), KERNEL and
 * EBPF segments, and import of files the Rust RVF runtime wrote (also used to
 * open such a file read-only).
 *
 * Segments carried over from a Rust file keep their payload byte for byte;
 * the header records the highest carried segment id (import_max_seg_id), and
 * KERNEL/EBPF payloads up to it are parsed with the Rust rules (its hashes are
 * a toy hash, not SHA-256). Everything rvf itself embeds has real SHA-256.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "common/log.h"
#include "codec/ebpf.h"
#include "codec/hash.h"
#include "codec/identity.h"
#include "codec/kernel.h"
#include "codec/rust_import.h"
#include "store/store_internal.h"

#define HASH_CHUNK (1u << 20)

/* ---- state hash and derive ---------------------------------------------------------- */

int rvf_store_state_hash(struct rvf_store *s, uint8_t out[RVF_HASH_LEN])
{
	struct rvf_dir_segment *segs = NULL;
	struct sha256_ctx c = { 0 };
	uint8_t *chunk = NULL;
	size_t n = 0;
	int err;

	if (!s || !out)
		return -EINVAL;
	err = rvf_dir_segments(s->dir, &segs, &n);
	if (err)
		return err;
	chunk = malloc(HASH_CHUNK);
	if (!chunk) {
		err = -ENOMEM;
		goto out;
	}
	err = sha256_init(&c);
	for (size_t i = 0; i < n && !err; i++) {
		const struct rvf_dir_segment *g = &segs[i];
		struct rvf_seg_hdr h;
		XXH3_state_t xs;
		XXH128_canonical_t can;

		err = rvf_dir_segment_header(s->dir, g->id, &h);
		err = err ? err : sha256_update(&c, &h, sizeof(h));
		XXH3_128bits_reset(&xs);
		for (uint64_t off = 0; off < g->payload_len && !err; off += HASH_CHUNK) {
			size_t len = g->payload_len - off < HASH_CHUNK ? (size_t)(g->payload_len - off) : HASH_CHUNK;
			err = rvf_dir_read_segment_range(s->dir, g->id, off, chunk, len);
			if (!err)
				err = sha256_update(&c, chunk, len);
			XXH3_128bits_update(&xs, chunk, len);
		}
		XXH128_canonicalFromHash(&can, XXH3_128bits_digest(&xs));
		if (!err && memcmp(can.digest, g->content_hash, 16))
			err = log_fail(-EBADMSG, "%s: segment %llu: checksum mismatch", s->path,
				       (unsigned long long)g->id);
	}
	if (!err)
		err = sha256_update(&c, &s->hdr.identity, sizeof(s->hdr.identity));
	if (!err)
		err = sha256_final(&c, out);
out:
	sha256_release(&c);
	free(chunk);
	free(segs);
	return err;
}

/*
 * The options a child store (derive, branch) is created with: the caller's
 * run-time fields and profile (o may be NULL), the parent's dimension,
 * metric and index parameters, and the parent's profile unless o names one.
 */
struct rvf_store_opts store_child_opts(const struct rvf_store *parent, const struct rvf_store_opts *o)
{
	struct rvf_store_opts co = { 0 };

	if (o)
		co = *o;
	co.dimension = parent->hdr.dimension;
	co.metric = (enum rvf_metric)parent->hdr.metric;
	co.M = parent->hdr.M;
	co.ef_construction = parent->hdr.ef_construction;
	co.seed = parent->hdr.seed;
	co.quant = parent->hdr.quant;
	if (!o || !o->profile)
		co.profile = (int)parent->hdr.profile;
	return co;
}

int rvf_store_derive(struct rvf_store *parent, const char *child_path, enum rvf_derivation_type type,
		     const struct rvf_store_opts *o, struct rvf_store **child)
{
	struct rvf_store_opts co = { 0 };
	struct rvf_file_identity cid;
	struct rvf_lineage_record lin;
	uint8_t hash[RVF_HASH_LEN];
	int err;

	if (!parent || !child_path || !child)
		return -EINVAL;
	if (!((unsigned)type <= RVF_DERIVE_SNAPSHOT || type == RVF_DERIVE_USER_DEFINED))
		return log_fail(-EINVAL, "%s: unknown derivation type %d", child_path, (int)type);
	err = rvf_store_state_hash(parent, hash);
	if (err)
		return err;
	err = file_identity_derive(&parent->hdr.identity, hash, &cid);
	if (err)
		return log_fail(err, "%s: cannot derive an identity from %s: %s", child_path,
				parent->path, rvf_strerror(err));
	err = lineage_record_build(&cid, (uint8_t)type, 0, now_realtime_ns(), NULL, &lin);
	if (err)
		return err;
	co = store_child_opts(parent, o);
	return store_create_with(child_path, &co, &cid, &lin, 0, 0, NULL, 0, child);
}

/* ---- KERNEL / EBPF --------------------------------------------------------------------- */

/* Write one segment of a new type-owned kind and commit. */
static int embed_segment(struct rvf_store *s, uint8_t type, const void *buf, size_t len, uint64_t *seg_id)
{
	struct store_hdr old = s->hdr;
	uint64_t id = s->hdr.next_seg_id;
	int err = rvf_dir_write_segment(s->dir, id, type, buf, len);

	if (!err) {
		s->hdr.next_seg_id = id + 1;
		err = store_hdr_put(s);
	}
	err = err ? err : store_commit(s, type == RVF_SEG_KERNEL ? "embed kernel" : "embed ebpf");
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		return err;
	}
	struct sseg g = { .id = id, .type = type, .payload_len = len,
			  .disk_bytes = store_disk_bytes(s, len) };
	err = segtab_add(&s->segs, &g);
	if (err) {
		s->broken = err;
		return err;
	}
	if (seg_id)
		*seg_id = id;
	return 0;
}

int rvf_store_embed_kernel(struct rvf_store *s, const struct rvf_kernel_opts *ko, const void *image,
			   size_t image_len, const struct rvf_kernel_binding *binding, uint64_t *seg_id)
{
	struct kernel_spec spec;
	size_t len;
	void *buf;
	int err = store_writable(s);

	if (err)
		return err;
	if (!ko || !image)
		return log_fail(-EINVAL, "%s: embed kernel: no options or no image", s->path);
	if (ko->cmdline_len && !ko->cmdline)
		return log_fail(-EINVAL, "%s: embed kernel: cmdline length without a cmdline", s->path);
	memset(&spec, 0, sizeof(spec));
	spec.arch = ko->arch;
	spec.kernel_type = ko->kernel_type;
	spec.kernel_flags = ko->kernel_flags & ~RVF_KERNEL_F_HAS_BINDING;
	spec.min_memory_mb = ko->min_memory_mb;
	spec.entry_point = ko->entry_point;
	spec.api_transport = ko->api_transport;
	spec.api_port = ko->api_port;
	spec.api_version = ko->api_version;
	spec.build_timestamp = now_realtime_ns();
	spec.vcpu_count = ko->vcpu_count;
	err = kernel_payload_size(image_len, ko->cmdline_len, binding != NULL, &len);
	if (err)
		return log_fail(err, "%s: embed kernel: image of %zu bytes / cmdline of %zu bytes out of range",
				s->path, image_len, ko->cmdline_len);
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	err = kernel_payload_encode(&spec, image, image_len, ko->cmdline, ko->cmdline_len, binding, buf, len);
	if (err)
		log_error("%s: embed kernel: %s", s->path, rvf_strerror(err));
	else
		err = embed_segment(s, RVF_SEG_KERNEL, buf, len, seg_id);
	free(buf);
	return err;
}

/* The newest segment of a type: its id, or 0. */
static uint64_t newest(const struct rvf_store *s, uint8_t type)
{
	for (size_t i = s->segs.n; i-- > 0;)
		if (s->segs.a[i].type == type)
			return s->segs.a[i].id;
	return 0;
}

static bool carried(const struct rvf_store *s, uint64_t id)
{
	return (s->hdr.flags & STORE_F_IMPORTED) && id <= s->hdr.import_max_seg_id;
}

static int read_kernel(const struct rvf_store *s, void **buf, struct kernel_view *kv)
{
	uint64_t id = s ? newest(s, RVF_SEG_KERNEL) : 0;
	size_t len;
	int err;

	if (!s)
		return -EINVAL;
	if (!id)
		return -ENOENT;
	err = rvf_dir_read_segment(s->dir, id, buf, &len);
	if (err)
		return log_fail(err, "%s: KERNEL segment %llu: %s", s->path, (unsigned long long)id,
				rvf_strerror(err));
	err = kernel_payload_parse(*buf, len, carried(s, id) ? KERNEL_PARSE_RUST : 0, kv);
	if (err) {
		log_error("%s: KERNEL segment %llu is invalid: %s", s->path, (unsigned long long)id,
			  rvf_strerror(err));
		free(*buf);
		*buf = NULL;
	}
	return err;
}

static int dup_out(const void *p, size_t n, void **out)
{
	*out = malloc(n ? n : 1);
	if (!*out)
		return -ENOMEM;
	if (n)
		memcpy(*out, p, n);
	return 0;
}

int rvf_store_extract_kernel(const struct rvf_store *s, struct rvf_kernel_hdr *hdr, void **image,
			     size_t *image_len, void **cmdline, size_t *cmdline_len)
{
	struct kernel_view kv;
	void *buf = NULL, *img = NULL, *cmd = NULL;
	int err;

	if (!hdr || !image || !image_len)
		return -EINVAL;
	err = read_kernel(s, &buf, &kv);
	if (err)
		return err;
	err = dup_out(kv.image, kv.image_len, &img);
	if (!err && cmdline)
		err = dup_out(kv.cmdline, kv.cmdline_len, &cmd);
	if (!err) {
		*hdr = kv.hdr;
		*image = img;
		*image_len = kv.image_len;
		if (cmdline) {
			*cmdline = cmd;
			if (cmdline_len)
				*cmdline_len = kv.cmdline_len;
		}
	} else {
		free(img);
		free(cmd);
	}
	free(buf);
	return err;
}

int rvf_store_extract_kernel_binding(const struct rvf_store *s, struct rvf_kernel_binding *out)
{
	struct kernel_view kv;
	void *buf = NULL;
	int err;

	if (!out)
		return -EINVAL;
	err = read_kernel(s, &buf, &kv);
	if (err)
		return err;
	if (kv.has_binding)
		*out = kv.binding;
	else
		err = -ENOENT;
	free(buf);
	return err;
}

int rvf_store_embed_ebpf(struct rvf_store *s, const struct rvf_ebpf_opts *eo, const void *prog,
			 size_t prog_len, const void *btf, size_t btf_len, uint64_t *seg_id)
{
	struct ebpf_spec spec;
	size_t len;
	void *buf;
	int err = store_writable(s);

	if (err)
		return err;
	if (!prog || (btf_len && !btf))
		return log_fail(-EINVAL, "%s: embed ebpf: no program, or a BTF length without BTF", s->path);
	memset(&spec, 0, sizeof(spec));
	if (eo) {
		spec.program_type = eo->program_type;
		spec.attach_type = eo->attach_type;
		spec.program_flags = eo->program_flags;
		spec.max_dimension = eo->max_dimension;
	}
	if (!spec.max_dimension)
		spec.max_dimension = (uint16_t)s->hdr.dimension;
	err = ebpf_payload_size(prog_len, btf_len, &len);
	if (err)
		return log_fail(err, "%s: embed ebpf: program of %zu bytes / BTF of %zu bytes out of range",
				s->path, prog_len, btf_len);
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	err = ebpf_payload_encode(&spec, prog, prog_len, btf, btf_len, buf, len);
	if (err)
		log_error("%s: embed ebpf: the program is not a usable eBPF ELF object (error %d)",
			  s->path, err);
	else
		err = embed_segment(s, RVF_SEG_EBPF, buf, len, seg_id);
	free(buf);
	return err;
}

int rvf_store_extract_ebpf(const struct rvf_store *s, struct rvf_ebpf_hdr *hdr, void **prog,
			   size_t *prog_len, void **btf, size_t *btf_len)
{
	struct ebpf_view ev;
	void *buf = NULL, *p = NULL, *b = NULL;
	uint64_t id;
	size_t len;
	int err;

	if (!s || !hdr || !prog || !prog_len)
		return -EINVAL;
	id = newest(s, RVF_SEG_EBPF);
	if (!id)
		return -ENOENT;
	err = rvf_dir_read_segment(s->dir, id, &buf, &len);
	if (err)
		return log_fail(err, "%s: EBPF segment %llu: %s", s->path, (unsigned long long)id,
				rvf_strerror(err));
	err = ebpf_payload_parse(buf, len, carried(s, id) ? EBPF_PARSE_RUST : 0, &ev);
	if (err)
		log_error("%s: EBPF segment %llu is invalid: %s", s->path, (unsigned long long)id,
			  rvf_strerror(err));
	if (!err)
		err = dup_out(ev.prog, ev.prog_len, &p);
	if (!err && btf)
		err = dup_out(ev.btf, ev.btf_len, &b);
	if (!err) {
		*hdr = ev.hdr;
		*prog = p;
		*prog_len = ev.prog_len;
		if (btf) {
			*btf = b;
			if (btf_len)
				*btf_len = ev.btf_len;
		}
	} else {
		free(p);
		free(b);
	}
	free(buf);
	return err;
}

/* ---- import of Rust-written files -------------------------------------------------------- */

#define IMPORT_BATCH 65536u

static int import_into(struct rvf_store *s, const struct rust_rvf *r)
{
	struct rvf_vector *vb = NULL;
	struct store_hdr old = s->hdr;
	int err = 0;

	/* carried segments first, in file order, one commit */
	for (size_t i = 0; i < r->n_carried && !err; i++) {
		const struct rust_rvf_seg *c = &r->carried[i];
		struct iovec iov = { (void *)c->payload, (size_t)c->payload_len };
		err = rvf_dir_write_segmentv(s->dir, s->hdr.next_seg_id, c->type, c->hdr.flags, &iov, 1);
		if (!err) {
			struct sseg g = { .id = s->hdr.next_seg_id, .type = c->type, .flags = c->hdr.flags,
					  .payload_len = c->payload_len,
					  .disk_bytes = store_disk_bytes(s, c->payload_len) };
			s->hdr.import_max_seg_id = s->hdr.next_seg_id++;
			err = segtab_add(&s->segs, &g);
		}
	}
	if (!err && r->n_carried) {
		err = store_hdr_put(s);
		err = err ? err : store_commit(s, "import carried segments");
	}
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		return err;
	}
	vb = calloc(IMPORT_BATCH, sizeof(*vb));
	if (!vb)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_live && !err; i += IMPORT_BATCH) {
		size_t n = r->n_live - i < IMPORT_BATCH ? r->n_live - i : IMPORT_BATCH;
		struct rvf_ingest_result res;
		for (size_t j = 0; j < n; j++) {
			vb[j].id = r->ids[i + j];
			vb[j].values = r->vectors + (i + j) * r->dim;
			vb[j].dim = r->dim;
		}
		err = rvf_store_ingest_batch(s, vb, n, &res);
		if (err)
			break;
		/* the reject list is ours to release either way (it leaked when a
		 * rejected vector failed the import) */
		if (res.rejected)
			err = log_fail(-EUCLEAN, "%s: vector id %llu cannot be imported: %s", s->path,
				       (unsigned long long)res.rejects[0].id,
				       rvf_reject_reason_name(res.rejects[0].reason));
		rvf_ingest_result_release(&res);
	}
	free(vb);
	return err;
}

int rvf_store_import_rust(const char *src, const char *dst, const struct rvf_store_opts *o,
			  struct rvf_store **out)
{
	struct rvf_store_opts co = { 0 };
	struct rust_rvf *r = NULL;
	struct rvf_store *s = NULL;
	int err;

	if (!src || !dst)
		return -EINVAL;
	err = rust_rvf_read(src, &r);
	if (err)
		return err;
	if (o)
		co = *o;
	co.dimension = r->dim;
	err = store_create_with(dst, &co, r->has_identity ? &r->identity : NULL, NULL,
				STORE_F_IMPORTED, 0, NULL, 0, &s);
	if (err)
		goto out;
	err = import_into(s, r);
	if (!err) {
		/* the graph checkpoint, so opening the import does not rebuild it */
		err = store_checkpoint(s);
	}
	if (err) {
		store_free_handle(s);
		unlink(dst);
		goto out;
	}
	if (out)
		*out = s;
	else
		err = rvf_store_close(s);
out:
	rust_rvf_free(r);
	return err;
}

/* Import into a private temporary store and open that read-only; the
 * temporary file is unlinked at once (the open handle keeps it alive). */
int store_open_rust_readonly(const char *path, const struct rvf_store_opts *o, struct rvf_store **out)
{
	const char *tmpdir = getenv("TMPDIR");
	char dir[4096], file[4200];
	struct rvf_store *s = NULL;
	char *p;
	int err;

	snprintf(dir, sizeof(dir), "%s/rvf-import-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(dir))
		return log_fail(-errno, "%s: cannot make a temporary directory to open a Rust RVF file",
				path);
	snprintf(file, sizeof(file), "%s/import.rvf", dir);
	err = rvf_store_import_rust(path, file, o, NULL);
	if (!err) {
		struct rvf_store_opts ro = { 0 };
		if (o)
			ro = *o;
		ro.profile = 0;
		err = rvf_store_open_readonly(file, &ro, &s);
	}
	unlink(file);
	rmdir(dir);
	if (err)
		return err;
	p = strdup(path);
	if (!p) {
		rvf_store_close(s);
		return -ENOMEM;
	}
	free(s->path);
	s->path = p;
	s->rust_view = true;
	*out = s;
	return 0;
}

/* Verify helper: a KERNEL/EBPF payload parses (hash checked unless carried). */
int store_check_carried(const struct rvf_store *s, uint8_t type, uint64_t id, const void *buf, size_t len)
{
	if (type == RVF_SEG_KERNEL) {
		struct kernel_view kv;
		return kernel_payload_parse(buf, len, carried(s, id) ? KERNEL_PARSE_RUST : 0, &kv);
	}
	struct ebpf_view ev;
	return ebpf_payload_parse(buf, len, carried(s, id) ? EBPF_PARSE_RUST : 0, &ev);
}
