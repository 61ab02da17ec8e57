/*
 * fuzz_store_open - hostile store contents behind valid storage checksums.
 *
 * The dir checksums every segment, so random file bytes never reach the
 * store's own parsers. This target builds a well-formed dir file whose store
 * header, VEC / META / JOURNAL segments and graph checkpoint come from the
 * input (with the magic numbers, versions, lengths and inner hashes fixed up
 * when a selector bit asks, so the parsers get past their first checks),
 * then opens it read-only, verifies it, queries it and reads it back. Any
 * outcome but a crash or a sanitizer report is fine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "fuzz_util.h"
#include "rvf/rvf.h"
#include "meta/meta_store.h"
#include "store/store_internal.h"

struct in { const uint8_t *p; size_t len, off; };

static uint64_t take(struct in *in, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && in->off < in->len; i++)
		v |= (uint64_t)in->p[in->off++] << (8 * i);
	return v;
}

static void take_bytes(struct in *in, uint8_t *dst, size_t n)
{
	size_t k = in->len - in->off < n ? in->len - in->off : n;

	memcpy(dst, in->p + in->off, k);
	memset(dst + k, 0, n - k);
	in->off += k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char path[256];
	struct in in = { data, len, 0 };
	struct rvf_dir *d = NULL;
	struct rvf_store *s = NULL;
	struct store_hdr h;
	uint8_t sel = (uint8_t)take(&in, 1);
	uint64_t nseg = take(&in, 1) % 8;

	rvf_set_log(fuzz_quiet, NULL, RVF_LOG_ERROR);
	if (!path[0])
		fuzz_path(path, sizeof(path), "store");
	unlink(path);
	if (rvf_dir_create(path, NULL, &d))
		abort();

	memset(&h, 0, sizeof(h));
	take_bytes(&in, (uint8_t *)&h, sizeof(h));
	if (sel & 1) {
		memcpy(h.magic, STORE_HDR_MAGIC, 8);
		h.version = STORE_HDR_VERSION;
		h.length = STORE_HDR_SIZE;
		h.dimension = 1 + h.dimension % 8;
		h.metric %= 3;
		h.M = 2 + h.M % 16;
		h.ef_construction = 1 + h.ef_construction % 64;
		h.quant %= 3;
		h.profile %= RVF_PROFILE_COUNT;
		h.flags &= STORE_F_IMPORTED;
		h.next_seg_id = nseg + 1;
		h.ckpt_seg_id %= h.next_seg_id;
		h.import_max_seg_id = 0;
		h.live %= 64;
		h.deleted %= 64;
		h.reserved0 = 0;
		h.frozen_epoch = 0;
		memset(&h.identity, 0, sizeof(h.identity));
		h.identity.file_id[0] = 1;
		memset(&h.lineage, 0, sizeof(h.lineage));
		h.hash = XXH3_64bits(&h, offsetof(struct store_hdr, hash));
	}
	rvf_dir_set_user_metadata(d, &h, sizeof(h));

	for (uint64_t id = 1; id <= nseg; id++) {
		uint8_t kind = (uint8_t)take(&in, 1);
		size_t plen = (size_t)take(&in, 2) % 4096;
		uint8_t *p = calloc(1, plen + 64);
		uint32_t dim = h.dimension ? h.dimension : 1;
		take_bytes(&in, p, plen);
		switch (kind % 4) {
		case 0:
			if ((sel & 2) && plen >= VEC_HDR && dim <= 65535) {
				uint64_t cnt = (plen - VEC_HDR) / (8 + 4ull * dim);
				struct vec_hdr vh;
				vec_hdr_make(&vh, dim, cnt);
				plen = (size_t)(vh.rows_off + cnt * vh.stride);
				memcpy(p, &vh, sizeof(vh));
			}
			rvf_dir_write_segment(d, id, RVF_SEG_VEC, p, plen);
			break;
		case 1:
			if ((sel & 4) && plen >= META_SEG_HDR) {
				uint64_t nrec = p[8] % 8, body = plen - META_SEG_HDR;
				memcpy(p, META_SEG_MAGIC, 4);
				p[4] = META_SEG_VERSION; p[5] = 0; p[6] = 0; p[7] = 0;
				memcpy(p + 8, &nrec, 8);
				memcpy(p + 16, &body, 8);
				uint64_t hh = XXH3_64bits(p + META_SEG_HDR, body);
				memcpy(p + 24, &hh, 8);
			}
			rvf_dir_write_segment(d, id, RVF_SEG_META, p, plen);
			break;
		case 2:
			if ((sel & 8) && plen >= JRN_HDR) {
				uint16_t ver = JRN_VERSION, op = JRN_OP_DELETE;
				uint64_t cnt = (plen - JRN_HDR) / 8;
				memcpy(p, JRN_MAGIC, 4);
				memcpy(p + 4, &ver, 2);
				memcpy(p + 6, &op, 2);
				memcpy(p + 8, &cnt, 8);
				plen = JRN_HDR + cnt * 8;
			}
			rvf_dir_write_segment(d, id, RVF_SEG_JOURNAL, p, plen);
			break;
		default:
			if ((sel & 16) && plen >= CKPT_HDR) {
				struct ckpt_hdr ck;
				uint64_t rest = plen - CKPT_HDR;
				memset(&ck, 0, sizeof(ck));
				memcpy(ck.magic, CKPT_MAGIC, 8);
				ck.covers_seg_id = h.ckpt_seg_id;
				if (sel & 32) {
					/* bookkeeping tables: counts from the input, the
					 * rest is the graph blob */
					ck.flags = CKPT_F_TABLES;
					ck.nsegs = p[8] % 8;
					ck.nlocs = p[9] % 32;
					uint64_t t = ck.nsegs * sizeof(struct ckpt_seg) + ck.nlocs * sizeof(struct loc);
					if (t > rest)
						ck.nsegs = ck.nlocs = t = 0;
					rest -= t;
				}
				ck.blob_len = rest;
				memcpy(p, &ck, sizeof(ck));
			}
			rvf_dir_write_vector_index(d, CKPT_FIELD, p, plen);
			break;
		}
		free(p);
	}
	if (rvf_dir_commit(d))
		abort();
	rvf_dir_close(d);

	if (!rvf_store_open_readonly(path, NULL, &s)) {
		struct rvf_store_status st;
		struct rvf_result r[4];
		float q[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
		uint64_t *ids = NULL;
		size_t n = 0;
		rvf_store_verify(s);
		rvf_store_status(s, &st);
		rvf_store_query(s, q, rvf_store_dimension(s), 4, NULL, r);
		if (!rvf_store_live_ids(s, &ids, &n)) {
			for (size_t i = 0; i < n && i < 8; i++) {
				struct rvf_meta_entry *e = NULL;
				size_t ne;
				if (!rvf_store_get_meta(s, ids[i], &e, &ne))
					free(e);
			}
			free(ids);
		}
		rvf_store_close(s);
	}
	unlink(path);
	return 0;
}
