#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "gemm_kernels.h"
#include "thread_pool.h"

namespace leantune {
namespace {

// Cache blocking: a KC×NR panel of B stays in L1, an MC×KC block of A in L2, a KC×NC
// block of B in L2/L3. MC is a multiple of every MR below.
constexpr int64_t KC = 256;
constexpr int64_t MC = 96;
constexpr int64_t NC = 1024;
// Below this many multiply-adds a product runs on the calling thread alone: waking the
// pool costs more than the arithmetic.
constexpr int64_t kParallelMacs = 1 << 17;

struct KernelChoice {
  int mr, nr;
  MicroKernel kernel;
};

KernelChoice ChoiceFor(Isa isa) {
#ifdef LEANTUNE_X86
  if (isa == Isa::kAvx512) return {8, 32, Avx512Kernel8x32};
  if (isa == Isa::kAvx2) return {6, 16, Avx2Kernel6x16};
#endif
  (void)isa;
  return {4, 8, ScalarKernel<4, 8>};
}

bool Supported(Isa isa) {
#ifdef LEANTUNE_X86
  __builtin_cpu_init();
  if (isa == Isa::kAvx512) return __builtin_cpu_supports("avx512f");
  if (isa == Isa::kAvx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return isa == Isa::kScalar;
}

Isa g_isa = DetectIsa();

// Per-thread packing buffers, 64-byte aligned for aligned vector loads of B.
struct PackBuffers {
  float* a = nullptr;
  float* b = nullptr;
  PackBuffers() {
    a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * (MC + 16) * KC));
    b = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * (NC + 32) * KC));
  }
  ~PackBuffers() {
    std::free(a);
    std::free(b);
  }
};

PackBuffers& Buffers() {
  static thread_local PackBuffers buffers;
  return buffers;
}

// A(i, p) = a[i·rs + p·cs]. Packs rows [0, mc) × depth [0, kc) into MR-row panels, zero padded.
void PackA(const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc, int mr, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += mr, dst += mr * kc) {
    const int64_t rows = std::min<int64_t>(mr, mc - i0);
    if (cs == 1) {
      for (int64_t i = 0; i < rows; i++) {
        const float* src = a + (i0 + i) * rs;
        for (int64_t p = 0; p < kc; p++) dst[p * mr + i] = src[p];
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        const float* src = a + i0 * rs + p * cs;
        for (int64_t i = 0; i < rows; i++) dst[p * mr + i] = src[i * rs];
      }
    }
    for (int64_t i = rows; i < mr; i++)
      for (int64_t p = 0; p < kc; p++) dst[p * mr + i] = 0.f;
  }
}

// B(p, j) = b[p·rs + j·cs]. Packs depth [0, kc) × columns [0, nc) into NR-column panels.
void PackB(const float* b, int64_t rs, int64_t cs, int64_t kc, int64_t nc, int nr, float* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += nr, dst += nr * kc) {
    const int64_t cols = std::min<int64_t>(nr, nc - j0);
    if (cs == 1) {
      for (int64_t p = 0; p < kc; p++) {
        const float* src = b + p * rs + j0;
        float* row = dst + p * nr;
        std::memcpy(row, src, sizeof(float) * cols);
        for (int64_t j = cols; j < nr; j++) row[j] = 0.f;
      }
    } else {
      for (int64_t j = 0; j < cols; j++) {
        const float* src = b + (j0 + j) * cs;
        for (int64_t p = 0; p < kc; p++) dst[p * nr + j] = src[p * rs];
      }
      for (int64_t p = 0; p < kc; p++)
        for (int64_t j = cols; j < nr; j++) dst[p * nr + j] = 0.f;
    }
  }
}

// C[0:m, 0:n] (row stride ldc) = A·B for one product, single-threaded.
void GemmBlock(const KernelChoice& kc_, const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs, int64_t bcs,
               float* c, int64_t ldc, int64_t m, int64_t n, int64_t k) {
  PackBuffers& buf = Buffers();
  const int mr = kc_.mr, nr = kc_.nr;
  alignas(64) float edge[16 * 32];
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min(KC, k - pc);
      const bool accumulate = pc > 0;
      PackB(b + pc * brs + jc * bcs, brs, bcs, kc, nc, nr, buf.b);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min(MC, m - ic);
        PackA(a + ic * ars + pc * acs, ars, acs, mc, kc, mr, buf.a);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t cols = std::min<int64_t>(nr, nc - jr);
          const float* bp = buf.b + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int64_t rows = std::min<int64_t>(mr, mc - ir);
            float* tile = c + (ic + ir) * ldc + jc + jr;
            const float* ap = buf.a + ir * kc;
            if (rows == mr && cols == nr) {
              kc_.kernel(kc, ap, bp, tile, ldc, accumulate);
              continue;
            }
            // Edge tile: compute the full tile aside, keep the valid part.
            kc_.kernel(kc, ap, bp, edge, nr, false);
            for (int64_t i = 0; i < rows; i++)
              for (int64_t j = 0; j < cols; j++)
                tile[i * ldc + j] = accumulate ? tile[i * ldc + j] + edge[i * nr + j] : edge[i * nr + j];
          }
        }
      }
    }
  }
}

inline float Activate(float x, int activation, float alpha) {
  switch (activation) {
    case kRelu: return x > 0.f ? x : 0.f;
    case kRelu6: return std::min(std::max(x, 0.f), 6.f);
    case kLeakyRelu: return x < 0.f ? alpha * x : x;
    case kElu: return x > 0.f ? x : std::expm1(x);
    case kSigmoid: return 1.f / (1.f + std::exp(-x));
    default: return x;
  }
}

void Epilogue(const MatMulDesc& d, float* c, int64_t rows, int64_t cols, int64_t col0) {
  if (d.bias == nullptr && d.activation == kLinear) return;
  for (int64_t i = 0; i < rows; i++) {
    float* row = c + i * d.n;
    for (int64_t j = 0; j < cols; j++) {
      float v = row[j] + (d.bias != nullptr ? d.bias[col0 + j] : 0.f);
      row[j] = Activate(v, d.activation, d.alpha);
    }
  }
}

}  // namespace

Isa DetectIsa() {
  if (Supported(Isa::kAvx512)) return Isa::kAvx512;
  if (Supported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa CurrentIsa() { return g_isa; }

bool SetIsa(Isa isa) {
  if (!Supported(isa)) return false;
  g_isa = isa;
  return true;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "scalar";
  }
}

void MatMul(const MatMulDesc& d, ThreadPool& pool) {
  const int64_t m = d.m, n = d.n, k = d.k;
  if (d.batch == 0 || m == 0 || n == 0) return;
  const KernelChoice choice = ChoiceFor(g_isa);
  // Element (i, p) of A at a[i·ars + p·acs]; (p, j) of B at b[p·brs + j·bcs].
  const int64_t ars = d.transA ? 1 : k, acs = d.transA ? m : 1;
  const int64_t brs = d.transB ? 1 : n, bcs = d.transB ? k : 1;
  // Split each product into column (or row) chunks until there is work for every thread,
  // a few chunks each so a thread slowed by other processes does not hold the rest back.
  const int threads = pool.threads();
  const bool parallel = threads > 1 && d.batch * m * n * std::max<int64_t>(k, 1) >= kParallelMacs;
  const int64_t want = parallel ? 3 * threads : 1;
  const int64_t perBatch = std::max<int64_t>(1, (want + d.batch - 1) / d.batch);
  int64_t colChunks = 1, rowChunks = 1;
  if (perBatch > 1) {
    if ((n + choice.nr - 1) / choice.nr >= perBatch) colChunks = perBatch;
    else rowChunks = std::min<int64_t>(perBatch, (m + choice.mr - 1) / choice.mr);
  }
  const int64_t colStep = ((n + colChunks - 1) / colChunks + choice.nr - 1) / choice.nr * choice.nr;
  const int64_t rowStep = ((m + rowChunks - 1) / rowChunks + choice.mr - 1) / choice.mr * choice.mr;
  const int64_t chunks = rowChunks * colChunks;
  pool.Run(d.batch * chunks, [&](int64_t task) {
    const int64_t o = task / chunks, chunk = task % chunks;
    const int64_t r0 = (chunk / colChunks) * rowStep, c0 = (chunk % colChunks) * colStep;
    if (r0 >= m || c0 >= n) return;
    const int64_t rows = std::min(rowStep, m - r0), cols = std::min(colStep, n - c0);
    const int64_t ai = d.aIndex != nullptr ? d.aIndex[o] : (d.aBatches == 1 ? 0 : o);
    const int64_t bi = d.bIndex != nullptr ? d.bIndex[o] : (d.bBatches == 1 ? 0 : o);
    const float* a = d.a + ai * m * k + r0 * ars;
    const float* b = d.b + bi * k * n + c0 * bcs;
    float* c = d.out + o * m * n + r0 * n + c0;
    if (k == 0) {
      for (int64_t i = 0; i < rows; i++) std::fill(c + i * n, c + i * n + cols, 0.f);
    } else {
      GemmBlock(choice, a, ars, acs, b, brs, bcs, c, n, rows, cols, k);
    }
    Epilogue(d, c, rows, cols, c0);
  });
}

}  // namespace leantune
