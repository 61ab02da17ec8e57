/*
 * format/hash.h - forwarding header: the payload codecs moved to user/codec/
 * (user/format/ clashed with include/rvf/format.h, the storage layout).
 * Kept only while user/bpfload/bpfload.c, user/store/store_cow.c and
 * tests/bpf/test_bpf.c (branches in flight) still include "format/hash.h";
 * delete this directory once they include "codec/hash.h".
 */
#include "codec/hash.h"
