/*
 * codec/identity.c - FileIdentity and LineageRecord construction and
 * checks, and the domain-profile <-> extension table.
 *
 * file_id comes from getrandom(2) (the kernel CSPRNG), not from a hash of
 * path and time as in the Rust runtime: two stores created in the same
 * nanosecond at the same path still get different ids.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/bytes.h"
#include "common/log.h"
#include "codec/identity.h"

/* Fill buf with n random bytes, never all zero. */
static int random_id(uint8_t *buf, size_t n)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		size_t got = 0;

		while (got < n) {
			ssize_t r = getrandom(buf + got, n - got, 0);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				return log_fail(-errno, "getrandom: %s", strerror(errno));
			}
			if (r == 0)
				return log_fail(-EIO, "getrandom returned no bytes");
			got += (size_t)r;
		}
		if (!all_zero(buf, n))
			return 0;
	}
	return log_fail(-EIO, "getrandom keeps returning zeros");
}

int file_identity_new(struct rvf_file_identity *out)
{
	struct rvf_file_identity id;
	int err;

	memset(&id, 0, sizeof(id));
	err = random_id(id.file_id, sizeof(id.file_id));
	if (!err)
		*out = id;
	return err;
}

int file_identity_derive(const struct rvf_file_identity *parent,
			 const uint8_t parent_hash[RVF_HASH_LEN],
			 struct rvf_file_identity *child)
{
	struct rvf_file_identity id;
	int err;

	if (!parent || !parent_hash || !child)
		return -EINVAL;
	if (all_zero(parent->file_id, sizeof(parent->file_id)))
		return log_fail(-EINVAL, "derive: parent has no file id");
	if (parent->lineage_depth == UINT32_MAX)
		return log_fail(-EOVERFLOW, "derive: parent lineage depth %u cannot grow",
				parent->lineage_depth);
	memset(&id, 0, sizeof(id));
	do {
		err = random_id(id.file_id, sizeof(id.file_id));
	} while (!err && !memcmp(id.file_id, parent->file_id, sizeof(id.file_id)));
	if (err)
		return err;
	memcpy(id.parent_id, parent->file_id, sizeof(id.parent_id));
	memcpy(id.parent_hash, parent_hash, sizeof(id.parent_hash));
	id.lineage_depth = parent->lineage_depth + 1;
	*child = id;
	return 0;
}

bool file_identity_is_root(const struct rvf_file_identity *id)
{
	return id->lineage_depth == 0 && all_zero(id->parent_id, sizeof(id->parent_id));
}

int file_identity_check(const struct rvf_file_identity *id)
{
	if (all_zero(id->file_id, sizeof(id->file_id)))
		return -EUCLEAN;
	if (id->lineage_depth == 0)
		return all_zero(id->parent_id, sizeof(id->parent_id)) &&
		       all_zero(id->parent_hash, sizeof(id->parent_hash)) ? 0 : -EUCLEAN;
	if (all_zero(id->parent_id, sizeof(id->parent_id)) ||
	    !memcmp(id->parent_id, id->file_id, sizeof(id->file_id)))
		return -EUCLEAN;
	return 0;
}

int lineage_record_build(const struct rvf_file_identity *child, uint8_t derivation_type,
			 uint32_t mutation_count, uint64_t timestamp_ns, const char *desc,
			 struct rvf_lineage_record *out)
{
	struct rvf_lineage_record r;
	size_t dlen = desc ? strlen(desc) : 0;

	if (!child || !out)
		return -EINVAL;
	if (dlen > RVF_LINEAGE_DESC_MAX)
		return log_fail(-EINVAL, "lineage description is %zu bytes (max %u)",
				dlen, RVF_LINEAGE_DESC_MAX);
	memset(&r, 0, sizeof(r));
	memcpy(r.file_id, child->file_id, sizeof(r.file_id));
	memcpy(r.parent_id, child->parent_id, sizeof(r.parent_id));
	memcpy(r.parent_hash, child->parent_hash, sizeof(r.parent_hash));
	r.derivation_type = derivation_type;
	r.mutation_count = mutation_count;
	r.timestamp_ns = timestamp_ns;
	r.description_len = (uint8_t)dlen;
	if (dlen)
		memcpy(r.description, desc, dlen);
	*out = r;
	return 0;
}

int lineage_record_check(const struct rvf_lineage_record *r)
{
	if (!all_zero(r->pad, sizeof(r->pad)) || r->description_len > RVF_LINEAGE_DESC_MAX)
		return -EUCLEAN;
	if (!all_zero(r->description + r->description_len,
		      RVF_LINEAGE_DESC_MAX - r->description_len))
		return -EUCLEAN;
	return 0;
}

/* ---- domain profiles ------------------------------------------------------ */

static const struct {
	const char *ext;
	uint32_t magic;
} profiles[RVF_PROFILE_COUNT] = {
	[RVF_PROFILE_GENERIC]  = { ".rvf",     0 },
	[RVF_PROFILE_RVDNA]    = { ".rvdna",   0x52444E41u },    /* "RDNA" */
	[RVF_PROFILE_RVTEXT]   = { ".rvtext",  0x52545854u },    /* "RTXT" */
	[RVF_PROFILE_RVGRAPH]  = { ".rvgraph", 0x52475248u },    /* "RGRH" */
	[RVF_PROFILE_RVVISION] = { ".rvvis",   0x52564953u },    /* "RVIS" */
};

int rvf_profile_from_path(const char *path)
{
	const char *dot, *slash;
	int i;

	if (!path)
		return -EINVAL;
	dot = strrchr(path, '.');
	slash = strrchr(path, '/');
	if (!dot || (slash && dot < slash))
		return -ENOENT;
	for (i = 0; i < RVF_PROFILE_COUNT; i++)
		if (!strcasecmp(dot, profiles[i].ext))
			return i;
	return -ENOENT;
}

const char *rvf_profile_extension(enum rvf_domain_profile p)
{
	return (unsigned)p < RVF_PROFILE_COUNT ? profiles[p].ext : NULL;
}

uint32_t rvf_profile_magic(enum rvf_domain_profile p)
{
	return (unsigned)p < RVF_PROFILE_COUNT ? profiles[p].magic : 0;
}
