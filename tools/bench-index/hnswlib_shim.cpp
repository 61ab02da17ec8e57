// hnswlib_shim.cpp - a C interface to Debian's header-only hnswlib
// (libhnswlib-dev), built only for bench-index so that rvf is measured
// beside the library a user would otherwise pick, with the same
// parameters, data and timing loop. Built -O3 -march=native (Makefile rule
// for .cpp), as the reference anchors were.
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <cstdint>
#include <new>
#include <thread>
#include <vector>

#include "hnswlib_shim.h"

struct hnswlib_idx {
	hnswlib::L2Space space;
	hnswlib::HierarchicalNSW<float> *alg;
	explicit hnswlib_idx(size_t dim) : space(dim), alg(nullptr) {}
};

extern "C" hnswlib_idx *hnswlib_new(uint32_t dim, size_t max_elements, uint32_t M, uint32_t efc, uint64_t seed)
{
	hnswlib_idx *h = new (std::nothrow) hnswlib_idx(dim);

	if (!h)
		return nullptr;
	try {
		h->alg = new hnswlib::HierarchicalNSW<float>(&h->space, max_elements, M, efc, seed);
	} catch (...) {
		delete h;
		return nullptr;
	}
	return h;
}

extern "C" void hnswlib_free(hnswlib_idx *h)
{
	if (!h)
		return;
	delete h->alg;
	delete h;
}

extern "C" int hnswlib_add_all(hnswlib_idx *h, const float *vecs, size_t n, uint32_t dim, unsigned threads)
{
	try {
		if (threads <= 1) {
			for (size_t i = 0; i < n; i++)
				h->alg->addPoint(vecs + i * dim, i);
			return 0;
		}
		// hnswlib's own ParallelFor pattern: workers pull the next row
		// an exception must not leave a worker thread (that would end the
		// process): each worker catches and the first failure is reported
		std::atomic<size_t> next(0);
		std::atomic<bool> failed(false);
		std::vector<std::thread> ts;
		for (unsigned t = 0; t < threads; t++)
			ts.emplace_back([&]() {
				try {
					for (;;) {
						size_t i = next.fetch_add(1);
						if (i >= n || failed.load())
							break;
						h->alg->addPoint(vecs + i * dim, i);
					}
				} catch (...) {
					failed.store(true);
				}
			});
		for (auto &t : ts)
			t.join();
		if (failed.load())
			return -1;
	} catch (...) {
		return -1;
	}
	return 0;
}

extern "C" void hnswlib_set_ef(hnswlib_idx *h, size_t ef)
{
	h->alg->setEf(ef);
}

extern "C" int hnswlib_search(const hnswlib_idx *h, const float *q, uint32_t k, uint64_t *labels, float *dist)
{
	auto res = h->alg->searchKnn(q, k);
	int n = (int)res.size();

	for (int i = n - 1; i >= 0; i--) {
		labels[i] = res.top().second;
		dist[i] = res.top().first;
		res.pop();
	}
	return n;
}

// What hnswlib's own structures account for: the level-0 block per element
// (links + vector + label) plus the upper-level link lists.
extern "C" size_t hnswlib_memory_bytes(const hnswlib_idx *h)
{
	const hnswlib::HierarchicalNSW<float> *a = h->alg;
	size_t b = a->max_elements_ * a->size_data_per_element_ + a->max_elements_ * sizeof(void *);

	for (size_t i = 0; i < a->cur_element_count; i++)
		b += (size_t)a->element_levels_[i] * a->size_links_per_element_;
	return b;
}
