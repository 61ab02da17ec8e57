/*
 * format/ebpf.h - forwarding header: the payload codecs moved to user/codec/
 * (user/format/ clashed with include/rvf/format.h, the storage layout).
 * Kept only while user/bpfload/bpfload.c, user/store/store_cow.c and
 * tests/bpf/test_bpf.c (branches in flight) still include "format/ebpf.h";
 * delete this directory once they include "codec/ebpf.h".
 */
#include "codec/ebpf.h"
