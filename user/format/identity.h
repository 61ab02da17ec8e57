/*
 * format/identity.h - forwarding header: the payload codecs moved to user/codec/
 * (user/format/ clashed with include/rvf/format.h, the storage layout).
 * Kept only while user/store/store_cow.c (and store_member.c on the cow
 * branch) still include "format/identity.h"; delete this directory once they
 * include "codec/identity.h". Nothing else in the tree uses it.
 */
#include "codec/identity.h"
