/*
 * test_store_crash.c - crash the store at every write and fsync (or a dense
 * sample of them) of a workload of ingests (with metadata and upserts),
 * deletes, graph checkpoints and compactions, reopen, and require that
 *   - the store opens (recovery, checkpoint + catch-up),
 *   - its logical content (live ids, vectors bit for bit, metadata) is
 *     exactly the state after the last acknowledged operation or after the
 *     one in flight: no acknowledged batch is lost, nothing half-applied,
 *   - rvf_store_verify passes and the store takes a new batch.
 *
 * The workload is a pure function of the seed; the crash point is the only
 * variable. The storage crash simulator (tests/helpers/crashsim.h) keeps
 * synced writes, drops a random subset of the rest and tears the last one.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rvf/rvf.h"
#include "crashsim.h"
#include "testutil.h"

#define DIM   8
#define NID   96
#define NOPS  70
#define MAX_POINTS 700

struct item {
	bool live;
	uint64_t vseed;
	bool has_meta;
	uint64_t meta;
};

struct model { struct item it[NID]; };

static struct model models[NOPS + 2];
/* what the workload's compactions did (dry run) */
static uint64_t n_compact, n_compacted_segs, n_reclaimed;

static void vec_of(uint64_t seed, float *v)
{
	struct tu_rng r;

	tu_rng_init(&r, seed);
	for (int j = 0; j < DIM; j++)
		v[j] = (float)(tu_rng_unit(&r) * 2 - 1);
}

/* Run the workload on path; models[j] is the state after j acknowledged
 * ops, models[*acked + 1] what the op in flight would give. */
static void workload(const char *path, uint64_t seed, int *acked)
{
	struct rvf_store_opts o = { .checkpoint_every = 60, .threads = 1 };
	struct rvf_store *s = NULL;
	struct model cur;
	struct tu_rng r;
	int err;

	memset(&cur, 0, sizeof(cur));
	models[0] = cur;
	*acked = 0;
	tu_rng_init(&r, seed);
	if (rvf_store_open(path, &o, &s))
		return;
	for (int op = 0; op < NOPS; op++) {
		uint64_t kind = tu_rng_below(&r, 10);
		if (kind < 6) {
			/* a batch of 1..24 vectors, some upserts, some with metadata */
			struct rvf_vector v[24];
			struct rvf_meta_entry me[24];
			float rows[24][DIM];
			size_t n = 1 + (size_t)tu_rng_below(&r, 24);
			for (size_t i = 0; i < n; i++) {
				uint64_t id = tu_rng_below(&r, NID);
				uint64_t vs = seed * 7919 + (uint64_t)op * 131 + i;
				vec_of(vs, rows[i]);
				v[i] = (struct rvf_vector){ .id = id, .values = rows[i], .dim = DIM };
				cur.it[id].live = true;
				cur.it[id].vseed = vs;
				cur.it[id].has_meta = tu_rng_below(&r, 3) != 0;
				if (cur.it[id].has_meta) {
					cur.it[id].meta = tu_rng_next(&r);
					me[i] = (struct rvf_meta_entry){ 1, rvf_meta_u64(cur.it[id].meta) };
					v[i].meta = &me[i];
					v[i].n_meta = 1;
				}
			}
			models[*acked + 1] = cur;
			err = rvf_store_ingest_batch(s, v, n, NULL);
		} else if (kind < 8) {
			uint64_t ids[8];
			size_t n = 1 + (size_t)tu_rng_below(&r, 8);
			for (size_t i = 0; i < n; i++) {
				ids[i] = tu_rng_below(&r, NID);
				cur.it[ids[i]].live = false;
				cur.it[ids[i]].has_meta = false;
			}
			models[*acked + 1] = cur;
			err = rvf_store_delete(s, ids, n, NULL);
		} else if (kind == 8) {
			struct rvf_compact_result cr = { 0 };
			models[*acked + 1] = cur;
			err = rvf_store_compact(s, &cr);
			if (!err) {
				n_compact++;
				n_compacted_segs += cr.segments_compacted;
				n_reclaimed += cr.bytes_reclaimed;
			}
		} else {
			/* delete by filter: metadata value below 2^61 */
			struct rvf_meta_value lim = rvf_meta_u64(UINT64_MAX / 8);
			struct rvf_filter *f = rvf_filter_lt(1, &lim);
			for (int i = 0; i < NID; i++)
				if (cur.it[i].live && cur.it[i].has_meta && cur.it[i].meta < UINT64_MAX / 8) {
					cur.it[i].live = false;
					cur.it[i].has_meta = false;
				}
			models[*acked + 1] = cur;
			err = rvf_store_delete_by_filter(s, f, NULL);
			rvf_filter_free(f);
		}
		if (err)
			break;
		(*acked)++;
		models[*acked] = cur;
	}
	if (*acked == NOPS) {
		/* close writes the last checkpoint: content unchanged */
		models[NOPS + 1] = cur;
	}
	rvf_store_close(s);
}

/* 1 if the store holds exactly model m. */
static int matches(struct rvf_store *s, const struct model *m)
{
	struct rvf_store_status st;
	size_t live = 0;
	float got[DIM], want[DIM];

	if (rvf_store_status(s, &st))
		return 0;
	for (int i = 0; i < NID; i++) {
		int err = rvf_store_get_vector(s, (uint64_t)i, got, DIM);
		if (!m->it[i].live) {
			if (err != -ENOENT)
				return 0;
			continue;
		}
		live++;
		vec_of(m->it[i].vseed, want);
		if (err || memcmp(got, want, sizeof(got)))
			return 0;
		struct rvf_meta_entry *e = NULL;
		size_t n = 0;
		if (rvf_store_get_meta(s, (uint64_t)i, &e, &n))
			return 0;
		int ok = m->it[i].has_meta ? (n == 1 && e[0].field_id == 1 && e[0].value.v.u64 == m->it[i].meta)
					   : n == 0;
		free(e);
		if (!ok)
			return 0;
	}
	return st.live_vectors == live;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *b;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	*len = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	b = malloc(*len);
	assert_int_equal(fread(b, 1, *len, fp), *len);
	fclose(fp);
	return b;
}

static void spit(const char *path, const void *b, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, len, fp), len);
	fclose(fp);
}

static void crash_during_ingest_delete_compact_checkpoint(void **state)
{
	char *dir = tu_tmpdir(), *path = tu_path(dir, "c.rvf");
	struct rvf_store_opts co = { .dimension = DIM, .M = 8, .ef_construction = 40 };
	struct rvf_store *s = NULL;
	struct crashsim cs;
	uint64_t seed = tu_seed(), lost = 0, partial = 0, points, step = 1, ran = 0;
	uint64_t in_flight = 0, at_acked = 0;
	uint8_t *tmpl;
	size_t tlen;
	int acked;

	(void)state;
	assert_int_equal(rvf_store_create(path, &co, &s), 0);
	assert_int_equal(rvf_store_close(s), 0);
	tmpl = slurp(path, &tlen);

	/* dry run */
	memset(&cs, 0, sizeof(cs));
	crashsim_install(&cs);
	workload(path, seed, &acked);
	crashsim_uninstall();
	assert_int_equal(acked, NOPS);
	points = cs.ops;
	printf("workload: %d operations, %llu writes, %llu syncs\n", acked,
	       (unsigned long long)cs.writes, (unsigned long long)cs.syncs);
	printf("info: workload compactions %llu, segments compacted %llu, bytes reclaimed %llu\n",
	       (unsigned long long)n_compact, (unsigned long long)n_compacted_segs,
	       (unsigned long long)n_reclaimed);
	assert_true(n_compact > 0 && n_compacted_segs > 0);
	assert_int_equal(rvf_store_open(path, NULL, &s), 0);
	assert_true(matches(s, &models[NOPS]));
	assert_int_equal(rvf_store_verify(s), 0);
	rvf_store_close(s);
	if (points > MAX_POINTS && !tu_soak())
		step = (points + MAX_POINTS - 1) / MAX_POINTS;

	for (uint64_t at = 1; at <= points; at += step) {
		spit(path, tmpl, tlen);
		memset(&cs, 0, sizeof(cs));
		cs.crash_at = at;
		cs.seed = seed ^ (at * 0x9e3779b97f4a7c15ull);
		crashsim_install(&cs);
		workload(path, seed, &acked);
		crashsim_uninstall();
		assert_true(cs.crashed);
		ran++;

		s = NULL;
		int err = rvf_store_open(path, NULL, &s);
		if (err) {
			printf("crash at op %llu: reopen failed: %s (%s)\n", (unsigned long long)at,
			       rvf_strerror(err), rvf_last_error());
			partial++;
			continue;
		}
		if (matches(s, &models[acked])) {
			at_acked++;
		} else if (acked < NOPS && matches(s, &models[acked + 1])) {
			in_flight++;
		} else {
			/* is it an older state (a lost acknowledged op)? */
			int older = 0;
			for (int j = acked - 1; j >= 0 && !older; j--)
				older = matches(s, &models[j]);
			printf("crash at op %llu: state is %s (acked %d)\n", (unsigned long long)at,
			       older ? "an older acknowledged state" : "none of the expected states", acked);
			if (older)
				lost++;
			else
				partial++;
		}
		if (rvf_store_verify(s)) {
			printf("crash at op %llu: verify failed: %s\n", (unsigned long long)at, rvf_last_error());
			partial++;
		} else {
			float v[DIM] = { 1, 2, 3, 4, 5, 6, 7, 8 };
			struct rvf_vector vv = { .id = 5000, .values = v, .dim = DIM };
			if (rvf_store_ingest_batch(s, &vv, 1, NULL) || rvf_store_verify(s)) {
				printf("crash at op %llu: cannot ingest after recovery\n", (unsigned long long)at);
				partial++;
			}
		}
		rvf_store_close(s);
	}
	printf("summary: crash points %llu of %llu (step %llu), recovered to the acknowledged state %llu, "
	       "to the in-flight state %llu, lost acknowledged ops %llu, bad states %llu\n",
	       (unsigned long long)ran, (unsigned long long)points, (unsigned long long)step,
	       (unsigned long long)at_acked, (unsigned long long)in_flight, (unsigned long long)lost,
	       (unsigned long long)partial);
	printf("crash points: %llu, lost commits: %llu, partial states: %llu\n",
	       (unsigned long long)ran, (unsigned long long)lost, (unsigned long long)partial);
	assert_int_equal(lost, 0);
	assert_int_equal(partial, 0);
	assert_true(ran > 0);
	free(tmpl);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_during_ingest_delete_compact_checkpoint),
	};

	return cmocka_run_group_tests_name("store_crash", tests, NULL, NULL);
}
