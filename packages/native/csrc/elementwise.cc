#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "thread_pool.h"
#include "vecmath.h"

namespace leantune {
namespace {

// Streaming ops are memory-bound: one core nearly saturates what two would get (measured:
// a cold 1M-element multiply 0.35 ms on one thread, 0.6-0.7 ms on two), and a second
// thread adds a wake-up and, on a loaded machine, a stall whenever it is preempted while
// holding a task. So below 4M elements the calling thread works alone.
constexpr int64_t kParallelElements = 1 << 22;

int64_t TaskCount(ThreadPool& pool, int64_t elements) {
  if (elements < kParallelElements) return 1;
  return std::min<int64_t>(4 * pool.threads(), (elements + kParallelElements - 1) / kParallelElements);
}

template <int OP>
inline float Apply(float a, float b) {
  if constexpr (OP == kAdd) return a + b;
  if constexpr (OP == kSub) return a - b;
  if constexpr (OP == kMul) return a * b;
  if constexpr (OP == kDiv) return a / b;
  if constexpr (OP == kPow) return std::pow(a, b);
  if constexpr (OP == kMaximum) return std::isnan(a) || std::isnan(b) ? std::numeric_limits<float>::quiet_NaN() : std::max(a, b);
  if constexpr (OP == kMinimum) return std::isnan(a) || std::isnan(b) ? std::numeric_limits<float>::quiet_NaN() : std::min(a, b);
  if constexpr (OP == kSquaredDifference) return (a - b) * (a - b);
  return 0.f;
}

// One contiguous run; the stride pattern is a template argument so each loop vectorizes.
template <int OP, int SA, int SB>
void Run(const float* __restrict a, const float* __restrict b, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = Apply<OP>(a[i * SA], b[i * SB]);
}

// Integer powers (x², x³ in GELU and its gradient) are exact products, as std::pow's are
// for these exponents up to rounding; a scalar exponent of 2 or 3 takes this path.
void PowScalar(const float* __restrict a, float e, float* __restrict out, int64_t n) {
  if (e == 2.f) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] * a[i];
  } else if (e == 3.f) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] * a[i] * a[i];
  } else if (e == 1.f) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i];
  } else if (e == 0.5f) {
    for (int64_t i = 0; i < n; i++) out[i] = std::sqrt(a[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = std::pow(a[i], e);
  }
}

template <int OP>
void RunRow(const float* a, const float* b, float* out, int64_t n, int64_t sa, int64_t sb) {
  if (OP == kPow && sa == 1 && sb == 0) return PowScalar(a, *b, out, n);
  if (sa == 1 && sb == 1) return Run<OP, 1, 1>(a, b, out, n);
  if (sa == 1 && sb == 0) return Run<OP, 1, 0>(a, b, out, n);
  if (sa == 0 && sb == 1) return Run<OP, 0, 1>(a, b, out, n);
  return Run<OP, 0, 0>(a, b, out, n);
}

template <int OP>
void BinaryRows(const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* as, const int64_t* bs,
                int64_t row0, int64_t row1) {
  const int64_t n = shape[rank - 1];
  for (int64_t row = row0; row < row1; row++) {
    int64_t rest = row, ao = 0, bo = 0;
    for (int d = rank - 2; d >= 0; d--) {
      const int64_t idx = rest % shape[d];
      rest /= shape[d];
      ao += idx * as[d];
      bo += idx * bs[d];
    }
    RunRow<OP>(a + ao, b + bo, out + row * n, n, as[rank - 1], bs[rank - 1]);
  }
}

template <int OP>
void BinaryKernel(const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* as, const int64_t* bs, ThreadPool& pool) {
  int64_t size = 1;
  for (int d = 0; d < rank; d++) size *= shape[d];
  if (size == 0) return;
  const int64_t n = shape[rank - 1];
  const int64_t tasks = TaskCount(pool, size);
  if (rank == 1) {
    // One run: split it into contiguous pieces.
    const int64_t step = (n + tasks - 1) / tasks;
    pool.Run(tasks, [&](int64_t t) {
      const int64_t i0 = t * step, i1 = std::min(n, i0 + step);
      if (i0 < i1) RunRow<OP>(a + i0 * as[0], b + i0 * bs[0], out + i0, i1 - i0, as[0], bs[0]);
    });
    return;
  }
  const int64_t rows = size / n;
  const int64_t step = (rows + tasks - 1) / tasks;
  pool.Run(tasks, [&](int64_t t) {
    const int64_t r0 = t * step, r1 = std::min(rows, r0 + step);
    if (r0 < r1) BinaryRows<OP>(a, b, out, rank, shape, as, bs, r0, r1);
  });
}

// exp and tanh: CephesExp/CephesTanh (vecmath.h), inline so that these loops vectorize.
LEANTUNE_CLONES void ExpLoop(const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = CephesExp(x[i]);
}
LEANTUNE_CLONES void TanhLoop(const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = CephesTanh(x[i]);
}
LEANTUNE_CLONES void SigmoidLoop(const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = 1.f / (1.f + CephesExp(-x[i]));
}

template <int OP>
inline float ApplyUnary(float x) {
  if constexpr (OP == kSquare) return x * x;
  if constexpr (OP == kSqrt) return std::sqrt(x);
  if constexpr (OP == kRsqrt) return 1.f / std::sqrt(x);
  if constexpr (OP == kExp) return std::exp(x);
  if constexpr (OP == kLog) return std::log(x);
  if constexpr (OP == kTanh) return std::tanh(x);
  if constexpr (OP == kNeg) return -x;
  if constexpr (OP == kSigmoidU) return 1.f / (1.f + std::exp(-x));
  if constexpr (OP == kAbs) return std::fabs(x);
  if constexpr (OP == kReluU) return x > 0.f ? x : (std::isnan(x) ? x : 0.f);
  if constexpr (OP == kFloor) return std::floor(x);
  return x;
}

template <int OP>
void UnaryOpRun(const float* x, float* out, int64_t size, ThreadPool& pool) {
  const int64_t tasks = TaskCount(pool, size);
  const int64_t step = (size + tasks - 1) / tasks;
  pool.Run(tasks, [&](int64_t t) {
    const int64_t i0 = t * step, i1 = std::min(size, i0 + step);
    if (i0 >= i1) return;
    if constexpr (OP == kExp) return ExpLoop(x + i0, out + i0, i1 - i0);
    if constexpr (OP == kTanh) return TanhLoop(x + i0, out + i0, i1 - i0);
    if constexpr (OP == kSigmoidU) return SigmoidLoop(x + i0, out + i0, i1 - i0);
    for (int64_t i = i0; i < i1; i++) out[i] = ApplyUnary<OP>(x[i]);
  });
}

// Σ of one contiguous run, in 8 independent float32 lanes (vectorizable, and closer to the
// exact sum than one running total).
float SumRun(const float* x, int64_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lanes[l] += x[i + l];
  float total = 0.f;
  for (; i < n; i++) total += x[i];
  return total + ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

template <int OP>
void ReduceSlab(const float* x, float* out, int64_t reduce, int64_t inner, int64_t j0, int64_t j1) {
  const float scale = OP == kMean ? 1.f / static_cast<float>(reduce) : 1.f;
  if (inner == 1) {
    float v;
    if (OP == kSum || OP == kMean) {
      v = SumRun(x, reduce) * scale;
    } else {
      v = x[0];
      for (int64_t r = 1; r < reduce; r++) v = OP == kMax ? (x[r] > v || std::isnan(x[r]) ? x[r] : v) : (x[r] < v || std::isnan(x[r]) ? x[r] : v);
    }
    out[0] = v;
    return;
  }
  for (int64_t j = j0; j < j1; j++) out[j] = x[j];
  for (int64_t r = 1; r < reduce; r++) {
    const float* row = x + r * inner;
    for (int64_t j = j0; j < j1; j++) {
      if (OP == kSum || OP == kMean) out[j] += row[j];
      else if (OP == kMax) out[j] = row[j] > out[j] || std::isnan(row[j]) ? row[j] : out[j];
      else out[j] = row[j] < out[j] || std::isnan(row[j]) ? row[j] : out[j];
    }
  }
  if (OP == kMean)
    for (int64_t j = j0; j < j1; j++) out[j] *= scale;
}

template <int OP>
void ReduceKernel(const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner, ThreadPool& pool) {
  if (outer * inner == 0) return;
  if (reduce == 0) {
    const float empty = OP == kMax ? -std::numeric_limits<float>::infinity() : OP == kMin ? std::numeric_limits<float>::infinity() : OP == kMean ? std::nanf("") : 0.f;
    std::fill(out, out + outer * inner, empty);
    return;
  }
  const int64_t tasks = TaskCount(pool, outer * reduce * inner);
  if (outer >= tasks || inner == 1) {
    const int64_t step = (outer + tasks - 1) / tasks;
    pool.Run(tasks, [&](int64_t t) {
      for (int64_t o = t * step, end = std::min(outer, o + step); o < end; o++)
        ReduceSlab<OP>(x + o * reduce * inner, out + o * inner, reduce, inner, 0, inner);
    });
    return;
  }
  // Few outer slabs, wide rows: split the columns.
  const int64_t perOuter = (tasks + outer - 1) / outer;
  const int64_t step = (inner + perOuter - 1) / perOuter;
  pool.Run(outer * perOuter, [&](int64_t t) {
    const int64_t o = t / perOuter, j0 = (t % perOuter) * step, j1 = std::min(inner, j0 + step);
    if (j0 < j1) ReduceSlab<OP>(x + o * reduce * inner, out + o * inner, reduce, inner, j0, j1);
  });
}

}  // namespace

void Binary(int op, const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* as, const int64_t* bs, ThreadPool& pool) {
  switch (op) {
    case kAdd: return BinaryKernel<kAdd>(a, b, out, rank, shape, as, bs, pool);
    case kSub: return BinaryKernel<kSub>(a, b, out, rank, shape, as, bs, pool);
    case kMul: return BinaryKernel<kMul>(a, b, out, rank, shape, as, bs, pool);
    case kDiv: return BinaryKernel<kDiv>(a, b, out, rank, shape, as, bs, pool);
    case kPow: return BinaryKernel<kPow>(a, b, out, rank, shape, as, bs, pool);
    case kMaximum: return BinaryKernel<kMaximum>(a, b, out, rank, shape, as, bs, pool);
    case kMinimum: return BinaryKernel<kMinimum>(a, b, out, rank, shape, as, bs, pool);
    case kSquaredDifference: return BinaryKernel<kSquaredDifference>(a, b, out, rank, shape, as, bs, pool);
  }
}

void Unary(int op, const float* x, float* out, int64_t size, ThreadPool& pool) {
  switch (op) {
    case kSquare: return UnaryOpRun<kSquare>(x, out, size, pool);
    case kSqrt: return UnaryOpRun<kSqrt>(x, out, size, pool);
    case kRsqrt: return UnaryOpRun<kRsqrt>(x, out, size, pool);
    case kExp: return UnaryOpRun<kExp>(x, out, size, pool);
    case kLog: return UnaryOpRun<kLog>(x, out, size, pool);
    case kTanh: return UnaryOpRun<kTanh>(x, out, size, pool);
    case kNeg: return UnaryOpRun<kNeg>(x, out, size, pool);
    case kSigmoidU: return UnaryOpRun<kSigmoidU>(x, out, size, pool);
    case kAbs: return UnaryOpRun<kAbs>(x, out, size, pool);
    case kReluU: return UnaryOpRun<kReluU>(x, out, size, pool);
    case kFloor: return UnaryOpRun<kFloor>(x, out, size, pool);
  }
}

void Reduce(int op, const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner, ThreadPool& pool) {
  switch (op) {
    case kSum: return ReduceKernel<kSum>(x, out, outer, reduce, inner, pool);
    case kMean: return ReduceKernel<kMean>(x, out, outer, reduce, inner, pool);
    case kMax: return ReduceKernel<kMax>(x, out, outer, reduce, inner, pool);
    case kMin: return ReduceKernel<kMin>(x, out, outer, reduce, inner, pool);
  }
}

}  // namespace leantune
