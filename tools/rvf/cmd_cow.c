/*
 * tools/rvf/cmd_cow.c - freeze, membership and branch: making a generation
 * immutable, the membership filter, and copy-on-write branches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int lock_opt(int argc, char **argv, const char *usage, int nargs)
{
	static const struct option lo[] = {
		{ "lock-timeout", required_argument, 0, 'L' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	while ((c = cli_getopt(argc, argv, ":h", lo, usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'L':
			if (cli_u32("--lock-timeout", optarg, 1, UINT32_MAX, &cli_lock_timeout_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + nargs != argc) {
		cli_err("expected %s (see rvf %s --help)", nargs == 1 ? "one FILE" : "PARENT and CHILD",
			cli_cmd);
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- freeze ---------------------------------------------------------------- */

static const char freeze_usage[] =
	"usage: rvf freeze FILE\n"
	"\n"
	"Make the store's current generation immutable, on disk: every later write\n"
	"(ingest, delete, compact, membership, embed) fails, in any process, after\n"
	"any reopen. Queries keep working; `rvf branch` makes a writable child.\n"
	"\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n";

int cmd_freeze(int argc, char **argv)
{
	int r = lock_opt(argc, argv, freeze_usage, 1), rc;
	struct rvf_store *s;
	const char *path;

	if (r >= 0)
		return r;
	path = argv[optind];
	if (cli_open_rw(path, &s))
		return 1;
	cli_clear_lib_err();
	rc = rvf_store_freeze(s);
	if (rc) {
		cli_lib_err(path, "freeze failed", rc);
		cli_close(s, path);
		return 1;
	}
	struct rvf_store_status st;
	if (!rvf_store_status(s, &st))
		printf("froze %s at epoch %llu (%llu live vectors)\n", path, (unsigned long long)st.epoch,
		       (unsigned long long)st.live_vectors);
	return cli_close(s, path);
}

/* ---- membership ------------------------------------------------------------ */

static const char membership_usage[] =
	"usage: rvf membership FILE (--include | --exclude) (--ids 1,2,3 | --ids-file F)\n"
	"       rvf membership FILE (--add | --remove) (--ids ... | --ids-file F)\n"
	"       rvf membership FILE --clear\n"
	"       rvf membership FILE --show\n"
	"\n"
	"Set the membership filter: with --include only the listed ids are visible\n"
	"to queries, with --exclude the listed ids are hidden. --add/--remove change\n"
	"the member set in the current mode. --clear drops the filter (a branch then\n"
	"no longer applies its parent's). --show prints the mode and the ids.\n"
	"--ids-file reads ids separated by whitespace or commas.\n"
	"\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n";

static int read_ids_file(const char *path, uint64_t **ids, size_t *n)
{
	void *buf;
	size_t len;
	int rc;

	if (cli_read_file(path, &buf, &len))
		return -EIO;
	char *t = realloc(buf, len + 1);
	if (!t) {
		free(buf);
		return -ENOMEM;
	}
	t[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\n' || t[i] == ' ' || t[i] == '\t' || t[i] == '\r')
			t[i] = ',';
	/* collapse empty fields */
	size_t k = 0;
	for (size_t i = 0; i < len; i++)
		if (!(t[i] == ',' && (k == 0 || t[k - 1] == ',')))
			t[k++] = t[i];
	while (k && t[k - 1] == ',')
		k--;
	t[k] = '\0';
	if (!k) {
		*ids = malloc(8);
		*n = 0;
		free(t);
		return *ids ? 0 : -ENOMEM;
	}
	rc = cli_u64_list("--ids-file", t, ids, n);
	free(t);
	return rc;
}

int cmd_membership(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "include", no_argument, 0, 'i' }, { "exclude", no_argument, 0, 'x' },
		{ "add", no_argument, 0, 'a' }, { "remove", no_argument, 0, 'r' },
		{ "clear", no_argument, 0, 'c' }, { "show", no_argument, 0, 's' },
		{ "ids", required_argument, 0, 'I' }, { "ids-file", required_argument, 0, 'f' },
		{ "lock-timeout", required_argument, 0, 'L' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *idlist = NULL, *idfile = NULL, *path;
	uint64_t *ids = NULL;
	size_t n = 0;
	int action = 0, c, rc;
	struct rvf_store *s;

	while ((c = cli_getopt(argc, argv, ":h", lo, membership_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'i': case 'x': case 'a': case 'r': case 'c': case 's':
			if (action && action != c) {
				cli_err("choose one of --include, --exclude, --add, --remove, --clear, --show");
				return EXIT_USAGE;
			}
			action = c;
			break;
		case 'I': idlist = optarg; break;
		case 'f': idfile = optarg; break;
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
	if (!action) {
		cli_err("one of --include, --exclude, --add, --remove, --clear, --show is required");
		return EXIT_USAGE;
	}
	bool need_ids = action != 'c' && action != 's';
	if (need_ids == !(idlist || idfile) || (idlist && idfile)) {
		cli_err(need_ids ? "give the ids with --ids or --ids-file (one of them)"
				 : "--clear and --show take no ids");
		return EXIT_USAGE;
	}
	if (idlist && cli_u64_list("--ids", idlist, &ids, &n))
		return EXIT_USAGE;
	if (idfile && read_ids_file(idfile, &ids, &n)) {
		cli_err("--ids-file %s: not a list of ids", idfile);
		return EXIT_USAGE;
	}
	path = argv[optind];
	if (action == 's') {
		struct rvf_membership_info mi;
		if (cli_open_ro(path, &s))
			return 1;
		rc = rvf_store_membership_filter(s, &mi);
		if (rc == -ENOENT)
			printf("no membership filter\n");
		else if (!rc) {
			printf("%s %zu ids%s, %llu vectors visible:", mi.mode == RVF_MEMBERSHIP_INCLUDE ?
			       "include" : "exclude", mi.n, mi.inherited ? " (inherited)" : "",
			       (unsigned long long)mi.visible);
			for (size_t i = 0; i < mi.n; i++)
				printf("%s%llu", i ? "," : " ", (unsigned long long)mi.ids[i]);
			printf("\n");
		}
		rvf_store_close(s);
		return rc && rc != -ENOENT;
	}
	if (cli_open_rw(path, &s)) {
		free(ids);
		return 1;
	}
	cli_clear_lib_err();
	switch (action) {
	case 'i': rc = rvf_store_set_membership(s, RVF_MEMBERSHIP_INCLUDE, ids, n); break;
	case 'x': rc = rvf_store_set_membership(s, RVF_MEMBERSHIP_EXCLUDE, ids, n); break;
	case 'a': rc = rvf_store_membership_add(s, ids, n); break;
	case 'r': rc = rvf_store_membership_remove(s, ids, n); break;
	default: rc = rvf_store_clear_membership(s); break;
	}
	free(ids);
	if (rc) {
		cli_lib_err(path, "membership change failed", rc);
		cli_close(s, path);
		return 1;
	}
	struct rvf_membership_info mi;
	if (rvf_store_membership_filter(s, &mi) == 0)
		printf("membership of %s: %s %zu ids, %llu vectors visible\n", path,
		       mi.mode == RVF_MEMBERSHIP_INCLUDE ? "include" : "exclude", mi.n,
		       (unsigned long long)mi.visible);
	else
		printf("membership of %s: none\n", path);
	return cli_close(s, path);
}

/* ---- branch ------------------------------------------------------------------ */

static const char branch_usage[] =
	"usage: rvf branch PARENT CHILD\n"
	"\n"
	"Create CHILD, a copy-on-write branch of PARENT: it reads the parent's\n"
	"vectors, graph and metadata and stores only its own changes. PARENT is\n"
	"frozen first if it is not. CHILD records the parent's path, file id and\n"
	"state hash; opening it fails, naming the parent, if the parent is missing,\n"
	"changed or no longer frozen. `rvf compact --flatten CHILD` makes it\n"
	"standalone.\n"
	"\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n";

int cmd_branch(int argc, char **argv)
{
	int r = lock_opt(argc, argv, branch_usage, 2), rc;
	const char *parent, *child;
	struct rvf_store *p;
	double t0;

	if (r >= 0)
		return r;
	parent = argv[optind];
	child = argv[optind + 1];
	if (cli_open_rw(parent, &p))
		return 1;
	cli_clear_lib_err();
	t0 = cli_now();
	rc = rvf_store_branch(p, child, NULL, NULL);
	if (rc) {
		cli_lib_err(child, "branch failed", rc);
		cli_close(p, parent);
		return 1;
	}
	printf("branched %s from %s in %.3f ms\n", child, parent, (cli_now() - t0) * 1e3);
	return cli_close(p, parent);
}
