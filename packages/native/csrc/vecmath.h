// Inline float32 math with no libm call, so loops over it vectorize; and the macros that
// compile one loop body for several instruction sets. Shared by elementwise.cc and fused*.cc.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#define LEANTUNE_INLINE inline __attribute__((always_inline))

#if defined(__x86_64__)
// The CPU picks a clone at load (elementwise.cc); setIsa() does not move these.
#define LEANTUNE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LEANTUNE_CLONES
#endif

namespace leantune {

// exp and tanh as in Cephes' expf/tanhf (within ~2 ulp of the exact value). glibc's tanhf
// took ~20 ns per element here.
LEANTUNE_INLINE float CephesExp(float x) {
  const float clamped = std::min(std::max(x, -87.33654f), 88.72283f);
  const float fx = std::floor(clamped * 1.44269504088896341f + 0.5f);
  const float r = clamped - fx * 0.693359375f + fx * 2.12194440e-4f;
  float y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.f;
  // 2^n in two factors, each a normal float for every n in [-126, 128].
  const int32_t n = static_cast<int32_t>(fx);
  const int32_t half = n >> 1;
  const int32_t bits1 = (half + 127) << 23, bits2 = (n - half + 127) << 23;
  float scale1, scale2;
  std::memcpy(&scale1, &bits1, sizeof scale1);
  std::memcpy(&scale2, &bits2, sizeof scale2);
  // Results below the smallest normal float are flushed to 0; above the largest, Inf.
  const float inf = std::numeric_limits<float>::infinity();
  return x < -87.33654f ? 0.f : x > 88.72283f ? inf : y * scale1 * scale2;
}

LEANTUNE_INLINE float CephesTanh(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  const float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
  const float large = std::copysign(1.f - 2.f / (CephesExp(2.f * ax) + 1.f), x);
  return ax < 0.625f ? small : large;
}

// Cephes' logf for a positive normal x (~1 ulp).
LEANTUNE_INLINE float CephesLog(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126);
  bits = (bits & 0x807fffff) | 0x3f000000;  // mantissa in [0.5, 1)
  float m;
  std::memcpy(&m, &bits, sizeof m);
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1.f : e;
  m = low ? m + m - 1.f : m - 1.f;
  const float z = m * m;
  float y = ((((((((7.0376836292e-2f * m - 1.1514610310e-1f) * m + 1.1676998740e-1f) * m - 1.2420140846e-1f) * m + 1.4249322787e-1f) * m - 1.6668057665e-1f) * m +
               2.0000714765e-1f) * m - 2.4999993993e-1f) * m + 3.3333331174e-1f) * m * z;
  y += -2.12194440e-4f * e - 0.5f * z;
  return m + y + 0.693359375f * e;
}

// sin and cos of 2π·turns for turns in [0, 1] (Cephes' sinf/cosf kernels on ±π/4).
LEANTUNE_INLINE void SinCosTurns(float turns, float* s, float* c) {
  const float q = std::floor(4.f * turns + 0.5f);
  const float r = (turns - 0.25f * q) * 6.28318530717958648f;
  const float z = r * r;
  const float sr = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  const float cr = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.f;
  const int quadrant = static_cast<int>(q) & 3;
  const float sinAbs = (quadrant & 1) ? cr : sr, cosAbs = (quadrant & 1) ? sr : cr;
  *s = quadrant >= 2 ? -sinAbs : sinAbs;
  *c = (quadrant == 1 || quadrant == 2) ? -cosAbs : cosAbs;
}

// erf(x) = x·P(x²)/Q(x²) on [-4, 4] (±1 beyond): the rational form of XLA/Eigen's float erf,
// evaluated in double: the form itself is within 6.5e-8 of erf, but its float evaluation
// loses up to 4.5e-7. Rounded to float the result is within ~1.3e-7 (test/fused.test.ts).
LEANTUNE_INLINE double RationalErf(double v) {
  const double x = std::min(std::max(v, -4.0), 4.0);
  const double z = x * x;
  double p = -2.72614225801306e-10;
  p = p * z + 2.77068142495902e-08;
  p = p * z - 2.10102402082508e-06;
  p = p * z - 5.69250639462346e-05;
  p = p * z - 7.34990630326855e-04;
  p = p * z - 2.95459980854025e-03;
  p = p * z - 1.60960333262415e-02;
  double q = -1.45660718464996e-05;
  q = q * z - 2.13374055278905e-04;
  q = q * z - 1.68282697438203e-03;
  q = q * z - 7.37332916720468e-03;
  q = q * z - 1.42647390514189e-02;
  return x * p / q;
}

}  // namespace leantune

// LEANTUNE_ISA_VARIANTS(Name, (params), (args)) defines Name(params), which calls
// Name##Body(args) compiled for the instruction set that setIsa() chose (gemm.h). Name##Body
// must be LEANTUNE_INLINE so that each variant vectorizes it for its own target.
#if defined(__x86_64__)
#define LEANTUNE_ISA_VARIANTS(Name, Params, Args)                                                                          \
  __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512"))) void Name##Avx512 Params { \
    Name##Body Args;                                                                                                       \
  }                                                                                                                        \
  __attribute__((target("avx2,fma"))) void Name##Avx2 Params { Name##Body Args; }                                         \
  void Name##Scalar Params { Name##Body Args; }                                                                            \
  void Name Params {                                                                                                       \
    const Isa isa = CurrentIsa();                                                                                          \
    if (isa == Isa::kAvx512) return Name##Avx512 Args;                                                                     \
    if (isa == Isa::kAvx2) return Name##Avx2 Args;                                                                         \
    return Name##Scalar Args;                                                                                              \
  }
#else
#define LEANTUNE_ISA_VARIANTS(Name, Params, Args) \
  void Name Params { Name##Body Args; }
#endif
