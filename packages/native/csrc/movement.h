// Data movement on dense float32 buffers: strided copies (transposes), row gathers and
// segment sums (the gradient of a gather).
#pragma once
#include <cstdint>

namespace leantune {

class ThreadPool;

// out (row-major over `shape`) [idx] = x[Σ idx_d · strides_d].
void StridedCopy(const float* x, float* out, int rank, const int64_t* shape, const int64_t* strides, ThreadPool& pool);

// x as [outer, axis, inner]; out [outer, count, inner] = x[o, indices[i], :]. Indices are checked by the caller.
void GatherRows(const float* x, const int32_t* indices, float* out, int64_t outer, int64_t axis, int64_t inner, int64_t count, ThreadPool& pool);

// out [segments, inner] = Σ over rows r with ids[r] = s of x[r, :]; ids outside [0, segments) are dropped.
void SegmentSum(const float* x, const int32_t* ids, float* out, int64_t rows, int64_t inner, int64_t segments, ThreadPool& pool);

}  // namespace leantune
