/* testutil.c - see testutil.h. */
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rvf/error.h"
#include "rvf/index.h"
#include "testutil.h"

char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = NULL;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/rvf-test-XXXXXX", base) < 0)
		abort();
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		abort();
	}
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void tu_rmrf(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

uint64_t tu_seed(void)
{
	static uint64_t seed;
	static int done;
	const char *e;

	if (done)
		return seed;
	e = getenv("RVF_SEED");
	if (e && *e) {
		seed = strtoull(e, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	}
	printf("seed: %llu (set RVF_SEED to reproduce)\n", (unsigned long long)seed);
	fflush(stdout);
	done = 1;
	return seed;
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void tu_rng_init(struct tu_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t tu_rng_next(struct tu_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
	s[2] ^= t; s[3] = rotl(s[3], 45);
	return res;
}

uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
	return n ? tu_rng_next(r) % n : 0;
}

double tu_rng_unit(struct tu_rng *r)
{
	return (double)(tu_rng_next(r) >> 11) * 0x1.0p-53;
}

void tu_rng_fill(struct tu_rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len >= 8) {
		uint64_t v = tu_rng_next(r);
		memcpy(p, &v, 8);
		p += 8; len -= 8;
	}
	if (len) {
		uint64_t v = tu_rng_next(r);
		memcpy(p, &v, len);
	}
}

void tu_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(77);
}

void tu_log_to_stderr(void)
{
	rvf_set_log(rvf_log_stderr, NULL, RVF_LOG_WARN);
}

int tu_simd_announce(void)
{
	if (rvf_simd_init()) {
		printf("rvf_simd_init: %s\n", rvf_last_error());
		return 1;
	}
	printf("info: distance kernels: %s\n", rvf_simd_name());
	return 0;
}

bool tu_soak(void)
{
	const char *e = getenv("RVF_SOAK");
	return e && *e == '1';
}

static bool is_dir(const char *p)
{
	struct stat st;

	return p && !stat(p, &st) && S_ISDIR(st.st_mode);
}

char *tu_repo_path(const char *rel)
{
	char exe[PATH_MAX], *cand = NULL, *res = NULL;
	struct stat st;
	ssize_t n;

	if (!stat(rel, &st))
		return realpath(rel, NULL);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (asprintf(&cand, "%s/../../%s", dirname(exe), rel) < 0)
			abort();
		if (!stat(cand, &st))
			res = realpath(cand, NULL);
		free(cand);
	}
	return res;
}

/* $RVF_FIXTURES, else tests/fixtures/rvf-reference in the repository. */
char *tu_fixture_dir(void)
{
	const char *env = getenv("RVF_FIXTURES");
	char *p;

	if (env && *env)
		return is_dir(env) ? realpath(env, NULL) : NULL;
	p = tu_repo_path("tests/fixtures/rvf-reference");
	if (p && !is_dir(p)) {
		free(p);
		p = NULL;
	}
	return p;
}

void *tu_slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *b;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	b[n] = 0;
	*len = (size_t)n;
	return b;
}

void tu_spit(const char *path, const void *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}
