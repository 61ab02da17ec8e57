/*
 * data/synth.c - a seeded synthetic set shaped like real embeddings.
 *
 * Model: `clusters` Gaussian components in a `latent`-dimensional space, each
 * with a random weight, centre (N(0, 3^2) per axis) and per-axis spread
 * (U(0.3, 1.3) x a per-cluster scale U(0.5, 1.5)); one random Gaussian
 * projection P (dim x latent, entries N(0, 1/dim), so norms are roughly
 * kept) maps the latent point up, and isotropic N(0, 0.05^2) noise is added.
 *
 * Determinism: the model comes from one serial stream of the seed; row i of
 * the base (queries) draws from its own stream seeded by (seed, i, set), so
 * the output does not depend on the thread count.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "rvf/error.h"

#define SYNTH_NOISE 0.05

struct srng { uint64_t s[4]; int have; double spare; };

static uint64_t sm64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void srng_init(struct srng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = sm64(&seed);
	r->have = 0;
}

static uint64_t srng_next(struct srng *r)
{
	uint64_t *s = r->s, res = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9, t = s[1] << 17;

	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
	s[2] ^= t; s[3] = s[3] << 45 | s[3] >> 19;
	return res;
}

static double srng_unit(struct srng *r)   /* (0, 1) */
{
	return ((double)(srng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double srng_gauss(struct srng *r)   /* Box-Muller, N(0, 1) */
{
	double u, v;

	if (r->have) {
		r->have = 0;
		return r->spare;
	}
	u = srng_unit(r);
	v = srng_unit(r);
	r->spare = sqrt(-2.0 * log(u)) * sin(2.0 * M_PI * v);
	r->have = 1;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

struct synth_model {
	uint32_t dim, latent, clusters;
	uint64_t seed;
	double *cum;       /* cumulative weights, last = 1 */
	float *centre;     /* clusters x latent */
	float *spread;     /* clusters x latent */
	float *proj;       /* dim x latent */
};

struct synth_job {
	const struct synth_model *m;
	float *out;
	size_t n, next;
	uint64_t set;
};

static void synth_row(const struct synth_model *m, uint64_t set, size_t i, float *dst, double *z)
{
	struct srng r;
	uint64_t key = m->seed ^ (0x51ed2701ull * (set + 1));
	double u;
	uint32_t lo = 0, hi = m->clusters - 1, c;

	srng_init(&r, key ^ sm64(&(uint64_t){ i }));
	u = srng_unit(&r);
	while (lo < hi) {            /* first cluster whose cumulative weight > u */
		uint32_t mid = (lo + hi) / 2;

		if (m->cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	c = lo;
	for (uint32_t l = 0; l < m->latent; l++)
		z[l] = m->centre[(size_t)c * m->latent + l] + m->spread[(size_t)c * m->latent + l] * srng_gauss(&r);
	for (uint32_t d = 0; d < m->dim; d++) {
		const float *p = m->proj + (size_t)d * m->latent;
		double s = 0;

		for (uint32_t l = 0; l < m->latent; l++)
			s += p[l] * z[l];
		dst[d] = (float)(s + SYNTH_NOISE * srng_gauss(&r));
	}
}

static void *synth_worker(void *arg)
{
	struct synth_job *j = arg;
	double *z = malloc(j->m->latent * sizeof(double));

	if (!z)
		return (void *)1;
	for (;;) {
		size_t i0 = __atomic_fetch_add(&j->next, 1024, __ATOMIC_RELAXED);

		if (i0 >= j->n)
			break;
		for (size_t i = i0; i < j->n && i < i0 + 1024; i++)
			synth_row(j->m, j->set, i, j->out + i * j->m->dim, z);
	}
	free(z);
	return NULL;
}

static int synth_fill(const struct synth_model *m, uint64_t set, float *out, size_t n, unsigned threads)
{
	struct synth_job j = { m, out, n, 0, set };
	pthread_t tid[64];
	unsigned nt;
	int err = 0;

	for (nt = 0; nt + 1 < threads; nt++)
		if (pthread_create(&tid[nt], NULL, synth_worker, &j))
			break;
	if (synth_worker(&j))
		err = -ENOMEM;
	for (unsigned i = 0; i < nt; i++) {
		void *rv;

		pthread_join(tid[i], &rv);
		if (rv)
			err = -ENOMEM;
	}
	return err;
}

int data_synth_clustered(const struct data_synth_opts *o, struct data_mat *base, struct data_mat *queries)
{
	struct data_synth_opts d = { 0 };
	struct synth_model m = { 0 };
	struct data_mat b = { 0 }, q = { 0 };
	struct srng r;
	size_t n, nq;
	unsigned threads;
	double total = 0;
	int err;

	if (!base || !queries)
		return -EINVAL;
	if (!o)
		o = &d;
	n = o->n ? o->n : 1000000;
	nq = o->nq ? o->nq : 1000;
	m.dim = o->dim ? o->dim : 128;
	m.latent = o->latent ? o->latent : 24;
	m.clusters = o->clusters ? o->clusters : 300;
	m.seed = o->seed ? o->seed : 42;
	threads = o->threads;
	if (!threads) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		threads = c > 0 ? (unsigned)c : 1;
	}
	if (threads > 64)
		threads = 64;
	if (m.latent > 4096 || m.dim > (1u << 20))
		return rvf_fail(-EINVAL, "data: synthetic latent %u / dim %u too large", m.latent, m.dim);

	m.cum = malloc(m.clusters * sizeof(double));
	m.centre = malloc((size_t)m.clusters * m.latent * sizeof(float));
	m.spread = malloc((size_t)m.clusters * m.latent * sizeof(float));
	m.proj = malloc((size_t)m.dim * m.latent * sizeof(float));
	if (!m.cum || !m.centre || !m.spread || !m.proj) {
		err = rvf_fail(-ENOMEM, "data: out of memory for the synthetic model");
		goto out;
	}
	srng_init(&r, m.seed);
	for (uint32_t c = 0; c < m.clusters; c++) {
		double scale = 0.5 + srng_unit(&r);

		total += 0.2 + 0.8 * srng_unit(&r);
		m.cum[c] = total;
		for (uint32_t l = 0; l < m.latent; l++) {
			m.centre[(size_t)c * m.latent + l] = (float)(3.0 * srng_gauss(&r));
			m.spread[(size_t)c * m.latent + l] = (float)(scale * (0.3 + srng_unit(&r)));
		}
	}
	for (uint32_t c = 0; c < m.clusters; c++)
		m.cum[c] /= total;
	m.cum[m.clusters - 1] = 1.0;
	for (size_t i = 0; i < (size_t)m.dim * m.latent; i++)
		m.proj[i] = (float)(srng_gauss(&r) / sqrt((double)m.dim));

	err = data_mat_alloc(&b, n, m.dim);
	if (!err)
		err = data_mat_alloc(&q, nq, m.dim);
	if (!err)
		err = synth_fill(&m, 0, b.v, n, threads);
	if (!err)
		err = synth_fill(&m, 1, q.v, nq, threads);
	if (err)
		goto out;
	*base = b;
	*queries = q;
	b.v = q.v = NULL;
out:
	data_mat_release(&b);
	data_mat_release(&q);
	free(m.cum);
	free(m.centre);
	free(m.spread);
	free(m.proj);
	return err;
}
