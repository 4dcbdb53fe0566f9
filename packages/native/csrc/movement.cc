#include "movement.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "thread_pool.h"

namespace leantune {
namespace {

// Streaming ops are memory-bound: one core nearly saturates what two would get (measured:
// a cold 1M-element multiply 0.35 ms on one thread, 0.6-0.7 ms on two), and a second
// thread adds a wake-up and, on a loaded machine, a stall whenever it is preempted while
// holding a task. So below 4M elements the calling thread works alone.
constexpr int64_t kParallelElements = 1 << 22;

int64_t Tasks(ThreadPool& pool, int64_t elements, int64_t rows) {
  if (elements < kParallelElements) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(4 * pool.threads(), rows));
}

}  // namespace

void StridedCopy(const float* x, float* out, int rank, const int64_t* shape, const int64_t* strides, ThreadPool& pool) {
  int64_t size = 1;
  for (int d = 0; d < rank; d++) size *= shape[d];
  if (size == 0) return;
  const int64_t n = shape[rank - 1], inner = strides[rank - 1];
  const int64_t rows = size / n;
  const int64_t tasks = Tasks(pool, size, rows);
  const int64_t step = (rows + tasks - 1) / tasks;
  pool.Run(tasks, [&](int64_t t) {
    for (int64_t row = t * step, end = std::min(rows, row + step); row < end; row++) {
      int64_t rest = row, offset = 0;
      for (int d = rank - 2; d >= 0; d--) {
        offset += (rest % shape[d]) * strides[d];
        rest /= shape[d];
      }
      const float* src = x + offset;
      float* dst = out + row * n;
      if (inner == 1) {
        std::memcpy(dst, src, sizeof(float) * n);
      } else {
        for (int64_t j = 0; j < n; j++) dst[j] = src[j * inner];
      }
    }
  });
}

void GatherRows(const float* x, const int32_t* indices, float* out, int64_t outer, int64_t axis, int64_t inner, int64_t count, ThreadPool& pool) {
  const int64_t rows = outer * count;
  const int64_t tasks = Tasks(pool, rows * inner, rows);
  const int64_t step = (rows + tasks - 1) / tasks;
  pool.Run(tasks, [&](int64_t t) {
    for (int64_t row = t * step, end = std::min(rows, row + step); row < end; row++) {
      const int64_t o = row / count, i = row % count;
      std::memcpy(out + row * inner, x + (o * axis + indices[i]) * inner, sizeof(float) * inner);
    }
  });
}

void SegmentSum(const float* x, const int32_t* ids, float* out, int64_t rows, int64_t inner, int64_t segments, ThreadPool& pool) {
  // Only the segments that occur get a sum (an embedding gradient touches a few hundred of
  // 50k rows); every other row of out is zero. Columns are independent: each task sums its
  // own slice of columns over all rows, in float64 as the kernel it replaces does.
  std::vector<int64_t> slot(static_cast<size_t>(segments), -1);
  std::vector<int64_t> touched;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t s = ids[r];
    if (s < 0 || s >= segments || slot[s] >= 0) continue;
    slot[s] = static_cast<int64_t>(touched.size());
    touched.push_back(s);
  }
  const int64_t tasks = Tasks(pool, segments * inner, inner / 16 > 0 ? inner / 16 : 1);
  const int64_t step = (inner + tasks - 1) / tasks;
  pool.Run(tasks, [&](int64_t t) {
    const int64_t j0 = t * step, j1 = std::min(inner, j0 + step);
    if (j0 >= j1) return;
    const int64_t width = j1 - j0;
    for (int64_t s = 0; s < segments; s++) std::fill(out + s * inner + j0, out + s * inner + j1, 0.0f);
    std::vector<double> sums(touched.size() * static_cast<size_t>(width), 0.0);
    for (int64_t r = 0; r < rows; r++) {
      const int64_t s = ids[r];
      if (s < 0 || s >= segments) continue;
      const float* src = x + r * inner + j0;
      double* dst = sums.data() + slot[s] * width;
      for (int64_t j = 0; j < width; j++) dst[j] += src[j];
    }
    for (size_t k = 0; k < touched.size(); k++)
      for (int64_t j = 0; j < width; j++) out[touched[k] * inner + j0 + j] = static_cast<float>(sums[k * width + j]);
  });
}

}  // namespace leantune
