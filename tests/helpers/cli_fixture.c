/*
 * cli_fixture.c - see cli_fixture.h.
 */
#include "cli_fixture.h"

char cf_rvf_bin[PATH_MAX];

char cf_fixture_dir[PATH_MAX];

char *cf_dir;          /* this test's temp dir (the children's cwd) */

struct tu_rng cf_rng;

struct res cf_R;

const char *cf_run_env[4];     /* extra NAME=VALUE for the child, NULL-terminated */

char *cf_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return b;
}

int cf_run_argv(int mode, char *const *args)
{
	char *outp = tu_path(cf_dir, ".out"), *errp = tu_path(cf_dir, ".err");
	char *argv[64];
	int n = 0, st;
	pid_t pid;

	free(cf_R.out);
	free(cf_R.err);
	memset(&cf_R, 0, sizeof(cf_R));
	argv[n++] = cf_rvf_bin;
	for (int i = 0; args[i]; i++) {
		assert_true(n < 62);
		argv[n++] = args[i];
		if (strlen(cf_R.cmd) + strlen(args[i]) + 2 < sizeof(cf_R.cmd)) {
			strcat(cf_R.cmd, " ");
			strcat(cf_R.cmd, args[i]);
		}
	}
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(120);
		if (chdir(cf_dir))
			_exit(121);
		for (int i = 0; cf_run_env[i]; i++)
			putenv((char *)cf_run_env[i]);
		if (mode == RUN_RDONLY_FS) {
			/* A private mount namespace where dir is a read-only bind mount. */
			if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
			    mount(cf_dir, cf_dir, NULL, MS_BIND, NULL) ||
			    mount(NULL, cf_dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL))
				_exit(122);
			if (chdir(cf_dir))
				_exit(121);
		}
		execv(cf_rvf_bin, argv);
		_exit(123);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	cf_R.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	cf_R.out = cf_slurp(outp, &cf_R.out_len);
	cf_R.err = cf_slurp(errp, NULL);
	free(outp);
	free(errp);
	return cf_R.code;
}

void cf_show_run(void)
{
	fprintf(stderr, "command: rvf%s\nexit: %d\n--- stdout (%zu bytes) ---\n%.4000s\n--- stderr ---\n%.4000s\n",
		cf_R.cmd, cf_R.code, cf_R.out_len, cf_R.out, cf_R.err);
}

char *cf_tpath(const char *name)
{
	static char buf[8][PATH_MAX];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", cf_dir, name);
	return buf[i];
}

void cf_write_bytes(const char *name, const void *p, size_t n)
{
	FILE *f = fopen(cf_tpath(name), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

float *cf_rand_vecs(size_t n, uint32_t dim)
{
	float *v = malloc(n * dim * sizeof(float));

	assert_non_null(v);
	for (size_t i = 0; i < n * dim; i++)
		v[i] = (float)(tu_rng_unit(&cf_rng) * 2.0 - 1.0);
	return v;
}

void cf_write_fvecs(const char *name, const float *v, size_t n, uint32_t dim)
{
	FILE *f = fopen(cf_tpath(name), "wb");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(fwrite(&dim, 4, 1, f), 1);
		assert_int_equal(fwrite(v + i * dim, 4, dim, f), dim);
	}
	assert_int_equal(fclose(f), 0);
}

void cf_write_jsonl(const char *name, const float *v, size_t n, uint32_t dim, uint64_t id0)
{
	FILE *f = fopen(cf_tpath(name), "w");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = id0 + i;

		fprintf(f, "{\"id\":%llu,\"vector\":[", (unsigned long long)id);
		for (uint32_t j = 0; j < dim; j++)
			fprintf(f, j ? ",%.9g" : "%.9g", (double)v[i * dim + j]);
		fprintf(f, "],\"meta\":{\"0\":\"%s\",\"1\":{\"u64\":%llu},\"2\":%.3f}}\n",
			id % 2 ? "odd" : "even", (unsigned long long)id, (double)id / 4.0);
	}
	assert_int_equal(fclose(f), 0);
}

void cf_dumped_free(struct dumped *d)
{
	for (size_t i = 0; i < d->n; i++)
		json_decref(d->meta[i]);
	free(d->id);
	free(d->v);
	free(d->meta);
	memset(d, 0, sizeof(*d));
}

void cf_dump_store(const char *store, struct dumped *d)
{
	char *line, *save = NULL;
	size_t cap = 0;

	OK("dump", (char *)store);
	memset(d, 0, sizeof(*d));
	for (line = strtok_r(cf_R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je), *vec;

		if (!o)
			fail_msg("dump line is not JSON (%s): %.200s", je.text, line);
		vec = json_object_get(o, "vector");
		assert_true(json_is_integer(json_object_get(o, "id")));
		assert_true(json_is_array(vec));
		if (d->n == cap) {
			cap = cap ? 2 * cap : 64;
			d->id = realloc(d->id, cap * sizeof(*d->id));
			d->meta = realloc(d->meta, cap * sizeof(*d->meta));
		}
		if (d->n == 0) {
			d->dim = (uint32_t)json_array_size(vec);
		} else {
			assert_int_equal(json_array_size(vec), d->dim);
			assert_true((uint64_t)json_integer_value(json_object_get(o, "id")) > d->id[d->n - 1]);
		}
		d->v = realloc(d->v, cap * d->dim * sizeof(float));
		d->id[d->n] = (uint64_t)json_integer_value(json_object_get(o, "id"));
		for (uint32_t j = 0; j < d->dim; j++) {
			/* %.9g text reads back bit for bit through strtof */
			char *txt = json_dumps(json_array_get(vec, j), JSON_ENCODE_ANY);

			d->v[d->n * d->dim + j] = strtof(txt, NULL);
			free(txt);
		}
		d->meta[d->n] = json_incref(json_object_get(o, "meta"));
		d->n++;
		json_decref(o);
	}
}

const float *cf_dumped_vec(const struct dumped *d, uint64_t id)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->id[i] == id)
			return d->v + i * d->dim;
	return NULL;
}

json_t *cf_status_json(const char *store)
{
	json_error_t je;
	json_t *o;

	OK("status", (char *)store, "--json");
	o = json_loads(cf_R.out, 0, &je);
	if (!o) {
		cf_show_run();
		fail_msg("status --json is not JSON: %s", je.text);
	}
	return o;
}

long long cf_jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("no integer \"%s\"", key);
	return json_integer_value(v);
}

const char *cf_jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("no string \"%s\"", key);
	return json_string_value(v);
}

long long cf_live_count(const char *store)
{
	json_t *o = cf_status_json(store);
	long long n = cf_jint(o, "live_vectors");

	json_decref(o);
	return n;
}

float *cf_make_store(const char *store, size_t n, const char *metric)
{
	float *v = cf_rand_vecs(n, 8);

	cf_write_fvecs("base.fvecs", v, n, 8);
	OK("create", (char *)store, "--dim", "8", "--metric", (char *)metric);
	OK("ingest", (char *)store, "base.fvecs");
	return v;
}

int cf_setup(void **state)
{
	(void)state;
	cf_dir = tu_tmpdir();
	cf_run_env[0] = NULL;
	return 0;
}

int cf_teardown(void **state)
{
	(void)state;
	tu_rmrf(cf_dir);
	free(cf_dir);
	cf_dir = NULL;
	return 0;
}

void cf_find_paths(const char *argv0)
{
	const char *e = getenv("RVF_BIN");
	char self[PATH_MAX], *fx;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		snprintf(self, sizeof(self), "%s", argv0);
	else
		self[n] = '\0';
	if (e && *e) {
		if (!realpath(e, cf_rvf_bin))
			snprintf(cf_rvf_bin, sizeof(cf_rvf_bin), "%s", e);
	} else {
		char tmp[PATH_MAX + 16], *d = strdup(self);

		snprintf(tmp, sizeof(tmp), "%s/../bin/rvf", dirname(d));
		free(d);
		if (!realpath(tmp, cf_rvf_bin))
			snprintf(cf_rvf_bin, sizeof(cf_rvf_bin), "%.*s", (int)sizeof(cf_rvf_bin) - 1, tmp);
	}
	fx = tu_fixture_dir();
	if (fx) {
		snprintf(cf_fixture_dir, sizeof(cf_fixture_dir), "%s", fx);
		free(fx);
	}
	if (cf_fixture_dir[0]) {
		char probe[PATH_MAX + 32];

		snprintf(probe, sizeof(probe), "%s/basic_store.rvf", cf_fixture_dir);
		if (access(probe, R_OK))
			cf_fixture_dir[0] = '\0';
	}
}

int cf_suite_init(const char *argv0)
{
	cf_find_paths(argv0);
	if (access(cf_rvf_bin, X_OK)) {
		fprintf(stderr, "rvf binary not found at %s (build it with make, or set RVF_BIN)\n", cf_rvf_bin);
		return 1;
	}
	printf("info: rvf binary %s, fixtures %s\n", cf_rvf_bin, cf_fixture_dir[0] ? cf_fixture_dir : "(none)");
	if (!cf_fixture_dir[0])
		printf("SKIP (import test): fixtures not found; set RVF_FIXTURES\n");
	tu_rng_init(&cf_rng, tu_seed());
	tu_log_to_stderr();
	return 0;
}
