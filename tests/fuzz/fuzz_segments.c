/*
 * fuzz_segments - arbitrary bytes through every payload parser that reads
 * file contents: META segments, KERNEL and EBPF payloads (native and Rust
 * forms) and whole files written by the Rust runtime. The first byte picks
 * the parser.
 */
#include <stdint.h>
#include <stdlib.h>

#include "codec/ebpf.h"
#include "codec/kernel.h"
#include "codec/rust_import.h"
#include "meta/meta_store.h"
#include "rvf/error.h"

static void quiet(void *ctx, enum rvf_log_level l, const char *msg)
{
	(void)ctx; (void)l; (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct kernel_view kv;
	struct ebpf_view ev;
	struct rust_rvf *r = NULL;
	struct meta_store *ms = NULL;

	rvf_set_log(quiet, NULL, RVF_LOG_ERROR);
	if (len < 1)
		return 0;
	switch (data[0] % 6) {
	case 0:
		if (meta_store_new(&ms) == 0) {
			meta_seg_decode(data + 1, len - 1, ms);
			meta_store_free(ms);
		}
		break;
	case 1:
		kernel_payload_parse(data + 1, len - 1, 0, &kv);
		break;
	case 2:
		kernel_payload_parse(data + 1, len - 1, KERNEL_PARSE_RUST, &kv);
		break;
	case 3:
		ebpf_payload_parse(data + 1, len - 1, 0, &ev);
		break;
	case 4:
		ebpf_payload_parse(data + 1, len - 1, EBPF_PARSE_RUST, &ev);
		break;
	default:
		if (rust_rvf_parse(data + 1, len - 1, "fuzz", &r) == 0)
			rust_rvf_free(r);
		break;
	}
	return 0;
}
