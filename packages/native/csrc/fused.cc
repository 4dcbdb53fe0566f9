// Row kernels: softmax cross-entropy, softmax and LayerNorm, forward and backward. A row is
// computed by one thread; row sums run in a fixed order (float lanes in blocks, float64
// across them), so the result does not depend on the thread count. Column sums (dgamma,
// dbeta) run over column blocks, each summing all rows in order.
#include "fused_impl.h"  // first: compile options

#include <cmath>
#include <limits>
#include <vector>

namespace leantune {
namespace {

using detail::ForChunks;

constexpr int kLanes = 16;
constexpr int64_t kBlock = 256;

// Σ term(i) over [0, n): 16 float lanes within blocks of 256 (vectorizable), float64 across
// blocks and for the lanes' total. A fixed order: the same sum on every thread and ISA width.
template <typename Term>
LEANTUNE_INLINE double BlockSum(int64_t n, const Term& term) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t end = std::min(n, b + kBlock);
    float lanes[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= end; i += kLanes)
      for (int l = 0; l < kLanes; l++) lanes[l] += term(i + l);
    double block = 0;
    for (; i < end; i++) block += term(i);
    for (int l = 0; l < kLanes; l++) block += lanes[l];
    total += block;
  }
  return total;
}

LEANTUNE_INLINE float RowMax(const float* x, int64_t n) {
  float lanes[kLanes];
  for (int l = 0; l < kLanes; l++) lanes[l] = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) lanes[l] = x[i + l] > lanes[l] ? x[i + l] : lanes[l];
  for (; i < n; i++) lanes[0] = x[i] > lanes[0] ? x[i] : lanes[0];
  float m = lanes[0];
  for (int l = 1; l < kLanes; l++) m = lanes[l] > m ? lanes[l] : m;
  return m;
}

// Σ exp(x − shift); the exponentials are also stored to `out` when STORE.
template <bool STORE>
LEANTUNE_INLINE double SumExp(const float* x, float shift, float* out, int64_t n) {
  return BlockSum(n, [&](int64_t i) {
    const float e = CephesExp(x[i] - shift);
    if (STORE) out[i] = e;
    return e;
  });
}

// Σ a·b (b = null: Σ a).
LEANTUNE_INLINE double Dot(const float* a, const float* b, int64_t n) {
  if (b == nullptr) return BlockSum(n, [&](int64_t i) { return a[i]; });
  return BlockSum(n, [&](int64_t i) { return a[i] * b[i]; });
}

LEANTUNE_INLINE bool Ignored(int32_t label, int64_t cols) { return label < 0 || label >= cols; }

LEANTUNE_INLINE void CrossEntropyRowsBody(const float* logits, const int32_t* labels, float* loss, int64_t cols, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    const float* x = logits + r * cols;
    if (Ignored(labels[r], cols)) {
      loss[r] = 0.f;
      continue;
    }
    const float mx = RowMax(x, cols);
    const double sum = SumExp<false>(x, mx, nullptr, cols);
    loss[r] = static_cast<float>(std::log(sum) + (static_cast<double>(mx) - x[labels[r]]));
  }
}
LEANTUNE_ISA_VARIANTS(CrossEntropyRows, (const float* logits, const int32_t* labels, float* loss, int64_t cols, int64_t r0, int64_t r1),
                      (logits, labels, loss, cols, r0, r1))

// Softmax rows into out, scaled by `scale` (dloss, or 1); with `labels`, 1·scale is taken off
// each row's label entry and ignored rows are 0.
LEANTUNE_INLINE void SoftmaxRowsBody(const float* logits, const int32_t* labels, const float* scale, float* out, int64_t cols, int64_t r0,
                                     int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    const float* x = logits + r * cols;
    float* o = out + r * cols;
    if (labels != nullptr && Ignored(labels[r], cols)) {
      std::fill(o, o + cols, 0.f);
      continue;
    }
    const float mx = RowMax(x, cols);
    const double sum = SumExp<true>(x, mx, o, cols);
    const double d = scale != nullptr ? scale[r] : 1.0;
    const float k = static_cast<float>(d / sum);
    const double labelValue = labels != nullptr ? o[labels[r]] : 0.0;
    for (int64_t c = 0; c < cols; c++) o[c] *= k;
    if (labels != nullptr) o[labels[r]] = static_cast<float>((labelValue / sum - 1.0) * d);
  }
}
LEANTUNE_ISA_VARIANTS(SoftmaxRows,
                      (const float* logits, const int32_t* labels, const float* scale, float* out, int64_t cols, int64_t r0, int64_t r1),
                      (logits, labels, scale, out, cols, r0, r1))

LEANTUNE_INLINE void SoftmaxGradRowsBody(const float* y, const float* dy, float* dx, int64_t cols, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    const float s = static_cast<float>(Dot(yr, dyr, cols));
    for (int64_t c = 0; c < cols; c++) dxr[c] = yr[c] * (dyr[c] - s);
  }
}
LEANTUNE_ISA_VARIANTS(SoftmaxGradRows, (const float* y, const float* dy, float* dx, int64_t cols, int64_t r0, int64_t r1),
                      (y, dy, dx, cols, r0, r1))

LEANTUNE_INLINE void LayerNormRowsBody(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                                       int64_t cols, float eps, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* o = out + r * cols;
    const double mu = Dot(xr, nullptr, cols) / static_cast<double>(cols);
    const float mf = static_cast<float>(mu);
    const double var = BlockSum(cols, [&](int64_t i) { return (xr[i] - mf) * (xr[i] - mf); }) / static_cast<double>(cols);
    const float m = mf, rs = static_cast<float>(1.0 / std::sqrt(var + eps));
    mean[r] = m;
    rstd[r] = rs;
    if (gamma != nullptr && beta != nullptr) {
      for (int64_t c = 0; c < cols; c++) o[c] = (xr[c] - m) * rs * gamma[c] + beta[c];
    } else if (gamma != nullptr) {
      for (int64_t c = 0; c < cols; c++) o[c] = (xr[c] - m) * rs * gamma[c];
    } else if (beta != nullptr) {
      for (int64_t c = 0; c < cols; c++) o[c] = (xr[c] - m) * rs + beta[c];
    } else {
      for (int64_t c = 0; c < cols; c++) o[c] = (xr[c] - m) * rs;
    }
  }
}
LEANTUNE_ISA_VARIANTS(LayerNormRows,
                      (const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd, int64_t cols, float eps,
                       int64_t r0, int64_t r1),
                      (x, gamma, beta, out, mean, rstd, cols, eps, r0, r1))

// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·gamma, x̂ = (x − mean)·rstd.
LEANTUNE_INLINE void LayerNormGradRowsBody(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                                           float* dx, int64_t cols, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    const float* dyr = dy + r * cols;
    const float* xr = x + r * cols;
    float* g = dx + r * cols;  // g, then dx in place
    const float m = mean[r], rs = rstd[r];
    if (gamma != nullptr) {
      for (int64_t c = 0; c < cols; c++) g[c] = dyr[c] * gamma[c];
    } else {
      std::copy(dyr, dyr + cols, g);
    }
    const double sumG = BlockSum(cols, [&](int64_t i) { return g[i]; });
    const double sumGX = BlockSum(cols, [&](int64_t i) { return g[i] * ((xr[i] - m) * rs); });
    const float a = static_cast<float>(sumG / cols), b = static_cast<float>(sumGX / cols);
    for (int64_t c = 0; c < cols; c++) g[c] = rs * ((g[c] - a) - (xr[c] - m) * rs * b);
  }
}
LEANTUNE_ISA_VARIANTS(LayerNormGradRows,
                      (const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, int64_t cols,
                       int64_t r0, int64_t r1),
                      (dy, x, gamma, mean, rstd, dx, cols, r0, r1))

// dgamma[c] = Σ_r dy·x̂, dbeta[c] = Σ_r dy over columns [c0, c1), float64, rows in order.
LEANTUNE_INLINE void LayerNormColumnsBody(const float* dy, const float* x, const float* mean, const float* rstd, float* dgamma, float* dbeta,
                                          int64_t rows, int64_t cols, int64_t c0, int64_t c1) {
  const int64_t w = c1 - c0;
  std::vector<double> sums(2 * w, 0.0);
  double* sg = sums.data();
  double* sb = sums.data() + w;
  for (int64_t r = 0; r < rows; r++) {
    const float* dyr = dy + r * cols + c0;
    const float* xr = x + r * cols + c0;
    const float m = mean[r], rs = rstd[r];
    for (int64_t c = 0; c < w; c++) {
      sg[c] += static_cast<double>(dyr[c]) * ((xr[c] - m) * rs);
      sb[c] += dyr[c];
    }
  }
  for (int64_t c = 0; c < w; c++) {
    if (dgamma != nullptr) dgamma[c0 + c] = static_cast<float>(sg[c]);
    if (dbeta != nullptr) dbeta[c0 + c] = static_cast<float>(sb[c]);
  }
}
LEANTUNE_ISA_VARIANTS(LayerNormColumns,
                      (const float* dy, const float* x, const float* mean, const float* rstd, float* dgamma, float* dbeta, int64_t rows,
                       int64_t cols, int64_t c0, int64_t c1),
                      (dy, x, mean, rstd, dgamma, dbeta, rows, cols, c0, c1))

}  // namespace

void SoftmaxCrossEntropy(const float* logits, const int32_t* labels, float* loss, int64_t rows, int64_t cols, ThreadPool& pool) {
  ForChunks(pool, rows, 2 * rows * cols, 1, [&](int64_t r0, int64_t r1) { CrossEntropyRows(logits, labels, loss, cols, r0, r1); });
}

void SoftmaxCrossEntropyGrad(const float* logits, const int32_t* labels, const float* dloss, float* dlogits, int64_t rows, int64_t cols,
                             ThreadPool& pool) {
  ForChunks(pool, rows, 3 * rows * cols, 1, [&](int64_t r0, int64_t r1) { SoftmaxRows(logits, labels, dloss, dlogits, cols, r0, r1); });
}

void Softmax(const float* x, float* out, int64_t rows, int64_t cols, ThreadPool& pool) {
  ForChunks(pool, rows, 3 * rows * cols, 1, [&](int64_t r0, int64_t r1) { SoftmaxRows(x, nullptr, nullptr, out, cols, r0, r1); });
}

void SoftmaxGrad(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, ThreadPool& pool) {
  ForChunks(pool, rows, rows * cols, 1, [&](int64_t r0, int64_t r1) { SoftmaxGradRows(y, dy, dx, cols, r0, r1); });
}

void LayerNorm(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd, int64_t rows, int64_t cols,
               float eps, ThreadPool& pool) {
  ForChunks(pool, rows, 2 * rows * cols, 1,
            [&](int64_t r0, int64_t r1) { LayerNormRows(x, gamma, beta, out, mean, rstd, cols, eps, r0, r1); });
}

void LayerNormGrad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, float* dgamma,
                   float* dbeta, int64_t rows, int64_t cols, ThreadPool& pool) {
  ForChunks(pool, rows, 2 * rows * cols, 1, [&](int64_t r0, int64_t r1) { LayerNormGradRows(dy, x, gamma, mean, rstd, dx, cols, r0, r1); });
  if (dgamma == nullptr && dbeta == nullptr) return;
  // Blocks of 64 columns: any split gives the same sums (each column sums all rows in order).
  const int64_t block = 64;
  ForChunks(pool, cols, rows * cols, block,
            [&](int64_t c0, int64_t c1) { LayerNormColumns(dy, x, mean, rstd, dgamma, dbeta, rows, cols, c0, c1); });
}

}  // namespace leantune
