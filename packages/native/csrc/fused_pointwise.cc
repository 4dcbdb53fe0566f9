// Elementwise fused kernels: GELU (tanh form and exact erf form) with its gradient, one
// AdamW step, and counter-based random fills. Each element depends only on its own inputs
// (and, for the fills, on (seed, index)), so any split across threads gives the same bytes.
#include "fused_impl.h"  // first: compile options

#include <cmath>

namespace leantune {
namespace {

using detail::ForChunks;

// Chunk starts are multiples of this: whole vectors, and whole pairs for Box–Muller.
constexpr int64_t kAlign = 64;

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

LEANTUNE_INLINE void GeluTanhBody(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    out[i] = 0.5f * v * (1.f + CephesTanh(kSqrt2OverPi * (v + kCubic * v * v * v)));
  }
}
LEANTUNE_ISA_VARIANTS(GeluTanh, (const float* x, float* out, int64_t n), (x, out, n))

LEANTUNE_INLINE void GeluTanhGradBody(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float t = CephesTanh(kSqrt2OverPi * (v + kCubic * v * v * v));
    const float d = 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * kSqrt2OverPi * (1.f + 3.f * kCubic * v * v);
    dx[i] = dy[i] * d;
  }
}
LEANTUNE_ISA_VARIANTS(GeluTanhGrad, (const float* x, const float* dy, float* dx, int64_t n), (x, dy, dx, n))

// x·Φ(x) = ½x(1 + erf(x/√2)), in double around the erf.
LEANTUNE_INLINE void GeluErfBody(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double v = x[i];
    out[i] = static_cast<float>(0.5 * v * (1.0 + RationalErf(v * kInvSqrt2)));
  }
}
LEANTUNE_ISA_VARIANTS(GeluErf, (const float* x, float* out, int64_t n), (x, out, n))

// d/dx x·Φ(x) = Φ(x) + x·φ(x).
LEANTUNE_INLINE void GeluErfGradBody(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const double cdf = 0.5 * (1.0 + RationalErf(static_cast<double>(v) * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * CephesExp(-0.5f * v * v);
    dx[i] = static_cast<float>(dy[i] * (cdf + static_cast<double>(v * pdf)));
  }
}
LEANTUNE_ISA_VARIANTS(GeluErfGrad, (const float* x, const float* dy, float* dx, int64_t n), (x, dy, dx, n))

// The float32 operations of packages/train's AdamW, in its order, scalars rounded to float
// as tfjs rounds them.
struct AdamWFloats {
  float decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, sqrtBc2, eps;
};

LEANTUNE_INLINE void AdamWRunBody(float* p, const float* g, float* m, float* v, int64_t n, const AdamWFloats& s) {
  const float decay = s.decay, b1 = s.beta1, c1 = s.oneMinusBeta1, b2 = s.beta2, c2 = s.oneMinusBeta2, step = s.stepSize, root = s.sqrtBc2,
              eps = s.eps;
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * c1;
    const float vi = v[i] * b2 + (gi * gi) * c2;
    const float denom = std::sqrt(vi) / root + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - (mi / denom) * step;
  }
}
LEANTUNE_ISA_VARIANTS(AdamWRun, (float* p, const float* g, float* m, float* v, int64_t n, const AdamWFloats& s), (p, g, m, v, n, s))

LEANTUNE_INLINE uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Pair p's 64 random bits: SplitMix64's output number p + 1 of the stream keyed by the seed.
LEANTUNE_INLINE uint64_t PairBits(uint64_t key, uint64_t p) { return Mix64(key + (p + 1) * 0x9e3779b97f4a7c15ULL); }

constexpr float kTwoPow24Inv = 1.f / 16777216.f;

// Elements [i0, i1), i0 even: element 2p and 2p + 1 take the top and the low 24-bit halves
// of pair p's bits. Results are capped at `top` (the float below high): rounding of
// low + range·u must not reach high.
LEANTUNE_INLINE float UniformAt(float u24, float low, float range, float top) { return std::min(low + range * (u24 * kTwoPow24Inv), top); }

LEANTUNE_INLINE void UniformRunBody(float* out, int64_t i0, int64_t i1, uint64_t key, float low, float range, float top) {
  const int64_t p0 = i0 / 2, pairs = (i1 - i0) / 2;
  for (int64_t k = 0; k < pairs; k++) {
    const uint64_t h = PairBits(key, static_cast<uint64_t>(p0 + k));
    out[i0 + 2 * k] = UniformAt(static_cast<float>(static_cast<uint32_t>(h >> 40)), low, range, top);
    out[i0 + 2 * k + 1] = UniformAt(static_cast<float>(static_cast<uint32_t>(h >> 8) & 0xffffffu), low, range, top);
  }
  if ((i1 - i0) & 1) {
    const uint64_t h = PairBits(key, static_cast<uint64_t>(p0 + pairs));
    out[i1 - 1] = UniformAt(static_cast<float>(static_cast<uint32_t>(h >> 40)), low, range, top);
  }
}
LEANTUNE_ISA_VARIANTS(UniformRun, (float* out, int64_t i0, int64_t i1, uint64_t key, float low, float range, float top),
                      (out, i0, i1, key, low, range, top))

// Box–Muller on u1 ∈ (0, 1], u2 ∈ [0, 1): r·cos(2πu2), r·sin(2πu2) with r = √(−2 ln u1).
LEANTUNE_INLINE void NormalPair(uint64_t h, float* z0, float* z1) {
  const float u1 = static_cast<float>(static_cast<uint32_t>(h >> 40) + 1u) * kTwoPow24Inv;
  const float u2 = static_cast<float>(static_cast<uint32_t>(h >> 8) & 0xffffffu) * kTwoPow24Inv;
  const float r = std::sqrt(-2.f * CephesLog(u1));
  float s, c;
  SinCosTurns(u2, &s, &c);
  *z0 = r * c;
  *z1 = r * s;
}

LEANTUNE_INLINE void NormalRunBody(float* out, int64_t i0, int64_t i1, uint64_t key, float mean, float stddev) {
  const int64_t p0 = i0 / 2, pairs = (i1 - i0) / 2;
  for (int64_t k = 0; k < pairs; k++) {
    float z0, z1;
    NormalPair(PairBits(key, static_cast<uint64_t>(p0 + k)), &z0, &z1);
    out[i0 + 2 * k] = mean + stddev * z0;
    out[i0 + 2 * k + 1] = mean + stddev * z1;
  }
  if ((i1 - i0) & 1) {
    float z0, z1;
    NormalPair(PairBits(key, static_cast<uint64_t>(p0 + pairs)), &z0, &z1);
    out[i1 - 1] = mean + stddev * z0;
  }
}
LEANTUNE_ISA_VARIANTS(NormalRun, (float* out, int64_t i0, int64_t i1, uint64_t key, float mean, float stddev),
                      (out, i0, i1, key, mean, stddev))

}  // namespace

void Gelu(const float* x, float* out, int64_t n, bool approximate, ThreadPool& pool) {
  ForChunks(pool, n, 4 * n, kAlign, [&](int64_t i0, int64_t i1) {
    if (approximate) GeluTanh(x + i0, out + i0, i1 - i0);
    else GeluErf(x + i0, out + i0, i1 - i0);
  });
}

void GeluGrad(const float* x, const float* dy, float* dx, int64_t n, bool approximate, ThreadPool& pool) {
  ForChunks(pool, n, 4 * n, kAlign, [&](int64_t i0, int64_t i1) {
    if (approximate) GeluTanhGrad(x + i0, dy + i0, dx + i0, i1 - i0);
    else GeluErfGrad(x + i0, dy + i0, dx + i0, i1 - i0);
  });
}

void AdamW(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWScalars& s, ThreadPool& pool) {
  const AdamWFloats f{static_cast<float>(1.0 - s.lr * s.weightDecay), static_cast<float>(s.beta1), static_cast<float>(1.0 - s.beta1),
                      static_cast<float>(s.beta2), static_cast<float>(1.0 - s.beta2), static_cast<float>(s.lr / s.biasCorrection1),
                      static_cast<float>(std::sqrt(s.biasCorrection2)), static_cast<float>(s.eps)};
  // Streaming (7 arrays touched per element): worth a second thread only when large.
  ForChunks(pool, n, n / 16, kAlign, [&](int64_t i0, int64_t i1) { AdamWRun(param + i0, grad + i0, m + i0, v + i0, i1 - i0, f); });
}

void FillUniform(float* out, int64_t n, uint64_t seed, float low, float high, ThreadPool& pool) {
  const uint64_t key = Mix64(seed);
  // [low, high): the largest value is the float just below high (low itself when they are equal).
  const float top = high > low ? std::nextafter(high, low) : low;
  ForChunks(pool, n, 2 * n, kAlign, [&](int64_t i0, int64_t i1) { UniformRun(out, i0, i1, key, low, high - low, top); });
}

void FillNormal(float* out, int64_t n, uint64_t seed, float mean, float stddev, ThreadPool& pool) {
  const uint64_t key = Mix64(seed);
  ForChunks(pool, n, 8 * n, kAlign, [&](int64_t i0, int64_t i1) { NormalRun(out, i0, i1, key, mean, stddev); });
}

}  // namespace leantune
