// Fused training kernels over dense float32 rows (rows = product of leading dims, cols =
// last dim): cross-entropy, softmax, LayerNorm, GELU, AdamW and seeded random fills. Each
// row (or element) is computed by one thread in a fixed order, so results do not depend on
// the thread count; vector code follows setIsa() (gemm.h).
#pragma once
#include <algorithm>
#include <cstdint>

#include "thread_pool.h"

namespace leantune {

// loss[r] = logsumexp(logits[r, :]) − logits[r, labels[r]]; 0 where labels[r] ∉ [0, cols).
void SoftmaxCrossEntropy(const float* logits, const int32_t* labels, float* loss, int64_t rows, int64_t cols, ThreadPool& pool);
// dlogits[r, c] = (softmax(logits[r])[c] − [c = labels[r]])·dloss[r]; 0 on ignored rows.
void SoftmaxCrossEntropyGrad(const float* logits, const int32_t* labels, const float* dloss, float* dlogits, int64_t rows, int64_t cols,
                             ThreadPool& pool);
void Softmax(const float* x, float* out, int64_t rows, int64_t cols, ThreadPool& pool);
// dx = y·(dy − Σ dy·y) per row.
void SoftmaxGrad(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, ThreadPool& pool);
// out = (x − mean)·rstd·gamma + beta per row (gamma/beta may be null: 1 and 0), biased variance.
void LayerNorm(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd, int64_t rows, int64_t cols,
               float eps, ThreadPool& pool);
// dx per row; dgamma/dbeta (each may be null) = column sums over all rows, overwritten.
void LayerNormGrad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, float* dgamma,
                   float* dbeta, int64_t rows, int64_t cols, ThreadPool& pool);

void Gelu(const float* x, float* out, int64_t n, bool approximate, ThreadPool& pool);
void GeluGrad(const float* x, const float* dy, float* dx, int64_t n, bool approximate, ThreadPool& pool);

// One torch.optim.AdamW step (amsgrad off), in place; scalars in double as JS passes them.
struct AdamWScalars {
  double lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2;
};
void AdamW(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWScalars& s, ThreadPool& pool);

// out[i] depends only on (seed, i): a SplitMix64 hash of the pair index i/2.
void FillUniform(float* out, int64_t n, uint64_t seed, float low, float high, ThreadPool& pool);
void FillNormal(float* out, int64_t n, uint64_t seed, float mean, float stddev, ThreadPool& pool);

namespace detail {

// Below this much work (elements, or element-passes) a kernel runs on the calling thread.
constexpr int64_t kParallelWork = 1 << 16;

// fn(i0, i1) over [0, count) in chunks whose starts are multiples of `align`, spread over
// the pool when `work` is big enough. Chunks never share an output element.
template <typename F>
void ForChunks(ThreadPool& pool, int64_t count, int64_t work, int64_t align, const F& fn) {
  if (count <= 0) return;
  const int64_t units = (count + align - 1) / align;
  const int64_t tasks = work < kParallelWork || pool.threads() == 1 ? 1 : std::min<int64_t>(4 * pool.threads(), units);
  const int64_t step = (units + tasks - 1) / tasks * align;
  pool.Run(tasks, [&](int64_t t) {
    const int64_t i0 = t * step, i1 = std::min(count, i0 + step);
    if (i0 < i1) fn(i0, i1);
  });
}

}  // namespace detail
}  // namespace leantune
