#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <memory>
#include <thread>

#include "gemm_kernels.h"
#include "thread_pool.h"

namespace leantune {
namespace {

// Cache blocking for Zen 3 / Skylake-class cores: a KC×NR panel of B (16 KiB for NR 16)
// stays in L1, an mc×KC block of A (mc ≤ MC, 144 KiB) in L2, a KC×nc block of B
// (nc ≤ NC, 4 MiB) in L3. MC is a multiple of every MR below, NC of every NR.
constexpr int64_t KC = 256;
constexpr int64_t MC = 144;
constexpr int64_t NC = 4096;
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

// A 64-byte aligned float buffer that only grows, so steady-state calls never allocate.
class Buffer {
 public:
  ~Buffer() { std::free(data_); }
  float* Get(int64_t floats) {
    if (floats > size_) {
      std::free(data_);
      size_ = (floats + 15) / 16 * 16;
      data_ = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * size_));
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
};

// Each thread packs its own blocks of A; B is packed once per block and shared by all.
float* PackedA() {
  static thread_local Buffer buffer;
  return buffer.Get((MC + 16) * KC);
}
// Whether the packing loops may use AVX2 (any ISA but the scalar one implies it).
bool VectorPacking() {
#ifdef LEANTUNE_X86
  return g_isa != Isa::kScalar;
#else
  return false;
#endif
}

// dst[p·ld + i] = src[i·stride + p] for i < lanes (0 up to `width`), p < kc: the packing of
// operands whose packed direction is strided (A as stored, B transposed). Up to 8 lanes at
// a time go through an AVX2 transpose; rows past the block may be written (see TransposePack8).
void PackStrided(const float* src, int64_t stride, int64_t lanes, int64_t width, int64_t kc, float* dst, int64_t ld) {
  for (int64_t i0 = 0; i0 < width; i0 += 8) {
    const int64_t n = std::min<int64_t>(8, width - i0), valid = std::max<int64_t>(0, std::min(n, lanes - i0));
    int64_t p = 0;
#ifdef LEANTUNE_X86
    if (VectorPacking()) {
      p = kc / 8 * 8;
      TransposePack8(src + i0 * stride, stride, static_cast<int>(valid), p, dst + i0, ld);
    }
#endif
    for (; p < kc; p++) {
      for (int64_t i = 0; i < valid; i++) dst[p * ld + i0 + i] = src[(i0 + i) * stride + p];
      for (int64_t i = valid; i < n; i++) dst[p * ld + i0 + i] = 0.f;
    }
  }
}

// A(i, p) = a[i·rs + p·cs]. Packs rows [0, mc) × depth [0, kc) into MR-row panels, zero padded.
void PackA(const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc, int mr, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += mr, dst += mr * kc) {
    const int64_t rows = std::min<int64_t>(mr, mc - i0);
    if (cs == 1) {
      PackStrided(a + i0 * rs, rs, rows, mr, kc, dst, mr);
      continue;
    }
    for (int64_t p = 0; p < kc; p++) {
      const float* src = a + i0 * rs + p * cs;
      for (int64_t i = 0; i < rows; i++) dst[p * mr + i] = src[i * rs];
      for (int64_t i = rows; i < mr; i++) dst[p * mr + i] = 0.f;
    }
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
      PackStrided(b + j0 * cs, cs, cols, nr, kc, dst, nr);
    }
  }
}

// PackB for a quantized B (MatMulDesc::quantB): depth [p0, p0 + kc) × columns [j0, j0 + nc)
// of B = W (transB false: each depth row is a run of a row of W, decoded in place) or Wᵀ
// (each column is a run of a row of W, decoded aside and scattered into the panel).
void PackBQuant(const QuantMatrix& q, bool transB, int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst) {
  alignas(64) float run[KC];
  for (int64_t jp = 0; jp < nc; jp += nr, dst += nr * kc) {
    const int64_t cols = std::min<int64_t>(nr, nc - jp);
    if (!transB) {
      for (int64_t p = 0; p < kc; p++) {
        float* row = dst + p * nr;
        DecodeRun(q, p0 + p, j0 + jp, cols, row);
        for (int64_t j = cols; j < nr; j++) row[j] = 0.f;
      }
      continue;
    }
    for (int64_t j = 0; j < nr; j++) {
      if (j >= cols) {
        for (int64_t p = 0; p < kc; p++) dst[p * nr + j] = 0.f;
        continue;
      }
      DecodeRun(q, j0 + jp + j, p0, kc, run);
      for (int64_t p = 0; p < kc; p++) dst[p * nr + j] = run[p];
    }
  }
}

template <int kActivation>
inline float Activate(float x, float alpha) {
  switch (kActivation) {
    case kRelu: return x > 0.f ? x : 0.f;
    case kRelu6: return std::min(std::max(x, 0.f), 6.f);
    case kLeakyRelu: return x < 0.f ? alpha * x : x;
    case kElu: return x > 0.f ? x : std::expm1(x);
    case kSigmoid: return 1.f / (1.f + std::exp(-x));
    default: return x;
  }
}

// One loop per activation and bias presence, so the cheap ones vectorize.
template <int kActivation, bool kBias>
void EpilogueRows(const MatMulDesc& d, float* c, int64_t rows, int64_t cols, int64_t col0) {
  const float* bias = kBias ? d.bias + col0 : nullptr;
  for (int64_t i = 0; i < rows; i++) {
    float* row = c + i * d.n;
    for (int64_t j = 0; j < cols; j++) row[j] = Activate<kActivation>(kBias ? row[j] + bias[j] : row[j], d.alpha);
  }
}

template <int kActivation>
void EpilogueFor(const MatMulDesc& d, float* c, int64_t rows, int64_t cols, int64_t col0) {
  if (d.bias != nullptr) EpilogueRows<kActivation, true>(d, c, rows, cols, col0);
  else EpilogueRows<kActivation, false>(d, c, rows, cols, col0);
}

void Epilogue(const MatMulDesc& d, float* c, int64_t rows, int64_t cols, int64_t col0) {
  switch (d.activation) {
    case kRelu: return EpilogueFor<kRelu>(d, c, rows, cols, col0);
    case kRelu6: return EpilogueFor<kRelu6>(d, c, rows, cols, col0);
    case kLeakyRelu: return EpilogueFor<kLeakyRelu>(d, c, rows, cols, col0);
    case kElu: return EpilogueFor<kElu>(d, c, rows, cols, col0);
    case kSigmoid: return EpilogueFor<kSigmoid>(d, c, rows, cols, col0);
    default:
      if (d.bias != nullptr) EpilogueRows<kLinear, true>(d, c, rows, cols, col0);
  }
}

// Waits for another thread's progress: spins briefly, then yields the core (the machine
// may have fewer free cores than pool threads).
template <typename Ready>
void WaitUntil(Ready ready) {
  for (int spins = 0; !ready(); spins++) {
    if (spins < 2000) {
#ifdef LEANTUNE_X86
      _mm_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// The whole call as one list of work items that threads claim in order from one counter.
// A step is one (output batch o, column block jc, depth block pc): first `packs` items
// that together pack B's KC×nc block into a buffer shared by all threads, then `computes`
// items, each one block of rows (and, for short products, a part of the columns) that
// packs its own A block and runs the micro-kernel over it. An item waits only for items
// earlier in the list (the packs of its step; the same tile at the previous depth block;
// for a pack, the computes of the step that last used its buffer), and every claimed item
// is being run, so the list always drains, whatever number of threads join and when.
// Packed blocks of B in flight: the packs of step s wait for the computes of step s - kBuffers,
// so a thread slowed by other processes holds the others back less.
constexpr int kBuffers = 3;

class Schedule {
 public:
  Schedule(const MatMulDesc& d, const KernelChoice& kernel, int threads) : d_(d), kernel_(kernel) {
    const int64_t m = d.m, n = d.n, k = d.k, mr = kernel.mr, nr = kernel.nr;
    ars_ = d.transA ? 1 : k, acs_ = d.transA ? m : 1;
    brs_ = d.transB ? 1 : n, bcs_ = d.transB ? k : 1;
    jcBlocks_ = (n + NC - 1) / NC;
    nc_ = RoundUp((n + jcBlocks_ - 1) / jcBlocks_, nr);
    kSteps_ = (k + KC - 1) / KC;
    kc_ = (k + kSteps_ - 1) / kSteps_;
    // Row blocks of equal size, a multiple of the thread count when there are several.
    int64_t rowBlocks = (m + MC - 1) / MC;
    if (threads > 1 && rowBlocks > 1) rowBlocks = RoundUp(rowBlocks, threads);
    mc_ = std::min(RoundUp((m + rowBlocks - 1) / rowBlocks, mr), RoundUp(m, mr));
    rowBlocks_ = (m + mc_ - 1) / mc_;
    // Too few independent tiles for the threads: split each column block as well.
    const int64_t panels = (nc_ + nr - 1) / nr;
    colParts_ = 1;
    const int64_t independent = d.batch * jcBlocks_ * rowBlocks_;
    if (threads > 1 && independent < 2 * threads) colParts_ = std::min(panels, (2 * threads + independent - 1) / independent);
    colPart_ = (panels + colParts_ - 1) / colParts_ * nr;
    colParts_ = (nc_ + colPart_ - 1) / colPart_;
    packs_ = std::min<int64_t>(panels, threads);
    computes_ = rowBlocks_ * colParts_;
    steps_ = d.batch * jcBlocks_ * kSteps_;
    items_ = steps_ * (packs_ + computes_);
    packDone_.reset(new std::atomic<int64_t>[steps_]);
    computeDone_.reset(new std::atomic<int64_t>[steps_]);
    for (int64_t i = 0; i < steps_; i++) packDone_[i].store(0, std::memory_order_relaxed), computeDone_[i].store(0, std::memory_order_relaxed);
    tileDone_.reset(new std::atomic<int>[steps_ * computes_]);
    for (int64_t i = 0; i < steps_ * computes_; i++) tileDone_[i].store(0, std::memory_order_relaxed);
    const int64_t bufferFloats = RoundUp(kc_ * nc_, 16);
    float* b = SharedB().Get(kBuffers * bufferFloats);
    for (int i = 0; i < kBuffers; i++) packedB_[i] = b + i * bufferFloats;
  }

  void Work() {
    for (int64_t item = next_.fetch_add(1); item < items_; item = next_.fetch_add(1)) {
      const int64_t step = item / (packs_ + computes_), index = item % (packs_ + computes_);
      if (index < packs_) Pack(step, index);
      else Compute(step, index - packs_);
    }
  }

 private:
  static int64_t RoundUp(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
  static Buffer& SharedB() {
    // One caller at a time: MatMul runs on the JS thread and blocks until done.
    static Buffer buffer;
    return buffer;
  }

  struct Step {
    int64_t o, jc, nc, pc, kc;
  };
  Step At(int64_t step) const {
    Step s;
    s.o = step / (jcBlocks_ * kSteps_);
    s.jc = (step / kSteps_) % jcBlocks_ * nc_;
    s.nc = std::min(nc_, d_.n - s.jc);
    s.pc = step % kSteps_ * kc_;
    s.kc = std::min(kc_, d_.k - s.pc);
    return s;
  }

  void Pack(int64_t step, int64_t index) {
    if (step >= kBuffers) WaitUntil([&] { return computeDone_[step - kBuffers].load(std::memory_order_acquire) == computes_; });
    const Step s = At(step);
    const int64_t nr = kernel_.nr, panels = (s.nc + nr - 1) / nr, per = (panels + packs_ - 1) / packs_;
    const int64_t j0 = std::min(panels, index * per) * nr, j1 = std::min(s.nc, (index + 1) * per * nr);
    if (j0 < j1 && d_.quantB != nullptr) {
      PackBQuant(*d_.quantB, d_.transB, s.pc, s.jc + j0, s.kc, j1 - j0, nr, packedB_[step % kBuffers] + j0 * s.kc);
    } else if (j0 < j1) {
      const int64_t bi = d_.bIndex != nullptr ? d_.bIndex[s.o] : (d_.bBatches == 1 ? 0 : s.o);
      const float* b = d_.b + bi * d_.k * d_.n + s.pc * brs_ + (s.jc + j0) * bcs_;
      PackB(b, brs_, bcs_, s.kc, j1 - j0, nr, packedB_[step % kBuffers] + j0 * s.kc);
    }
    packDone_[step].fetch_add(1, std::memory_order_release);
  }

  void Compute(int64_t step, int64_t index) {
    const Step s = At(step);
    const int64_t r0 = index / colParts_ * mc_, c0 = index % colParts_ * colPart_;
    const int64_t rows = std::min(mc_, d_.m - r0), cols = std::min(colPart_, s.nc - c0);
    WaitUntil([&] { return packDone_[step].load(std::memory_order_acquire) == packs_; });
    // The same tile at the previous depth block accumulates into the same part of C.
    if (s.pc > 0) WaitUntil([&] { return tileDone_[(step - 1) * computes_ + index].load(std::memory_order_acquire) != 0; });
    if (rows > 0 && cols > 0) {
      const int64_t ai = d_.aIndex != nullptr ? d_.aIndex[s.o] : (d_.aBatches == 1 ? 0 : s.o);
      const float* a = d_.a + ai * d_.m * d_.k + r0 * ars_ + s.pc * acs_;
      float* c = d_.out + s.o * d_.m * d_.n + r0 * d_.n + s.jc + c0;
      float* pa = PackedA();
      PackA(a, ars_, acs_, rows, s.kc, kernel_.mr, pa);
      Block(pa, packedB_[step % kBuffers] + c0 * s.kc, c, rows, cols, s.kc, s.pc > 0);
      if (s.pc + s.kc == d_.k) Epilogue(d_, c, rows, cols, s.jc + c0);
    }
    tileDone_[step * computes_ + index].store(1, std::memory_order_release);
    computeDone_[step].fetch_add(1, std::memory_order_release);
  }

  // C[0:rows, 0:cols] (+)= packed A block · packed B panels.
  void Block(const float* pa, const float* pb, float* c, int64_t rows, int64_t cols, int64_t kc, bool accumulate) const {
    const int mr = kernel_.mr, nr = kernel_.nr;
    const int64_t ldc = d_.n;
    alignas(64) float edge[16 * 32];
    for (int64_t jr = 0; jr < cols; jr += nr) {
      const int64_t w = std::min<int64_t>(nr, cols - jr);
      const float* bp = pb + jr * kc;
      for (int64_t ir = 0; ir < rows; ir += mr) {
        const int64_t h = std::min<int64_t>(mr, rows - ir);
        float* tile = c + ir * ldc + jr;
        const float* ap = pa + ir * kc;
        if (h == mr && w == nr) {
          kernel_.kernel(kc, ap, bp, tile, ldc, accumulate);
          continue;
        }
        // Edge tile: compute the full tile aside, keep the valid part.
        kernel_.kernel(kc, ap, bp, edge, nr, false);
        for (int64_t i = 0; i < h; i++)
          for (int64_t j = 0; j < w; j++) tile[i * ldc + j] = accumulate ? tile[i * ldc + j] + edge[i * nr + j] : edge[i * nr + j];
      }
    }
  }

  const MatMulDesc& d_;
  const KernelChoice kernel_;
  int64_t ars_, acs_, brs_, bcs_;
  int64_t jcBlocks_, nc_, kSteps_, kc_, mc_, rowBlocks_, colParts_, colPart_;
  int64_t packs_, computes_, steps_, items_;
  float* packedB_[kBuffers];
  std::unique_ptr<std::atomic<int64_t>[]> packDone_, computeDone_;
  std::unique_ptr<std::atomic<int>[]> tileDone_;
  alignas(64) std::atomic<int64_t> next_{0};
};

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
  if (d.batch == 0 || d.m == 0 || d.n == 0) return;
  const KernelChoice choice = ChoiceFor(g_isa);
  if (d.k == 0) {
    for (int64_t o = 0; o < d.batch; o++) {
      float* c = d.out + o * d.m * d.n;
      std::fill(c, c + d.m * d.n, 0.f);
      Epilogue(d, c, d.m, d.n, 0);
    }
    return;
  }
  const int threads = pool.threads();
  const bool parallel = threads > 1 && d.batch * d.m * d.n * d.k >= kParallelMacs;
  Schedule s(d, choice, parallel ? threads : 1);
  if (!parallel) {
    s.Work();
    return;
  }
  pool.Run(threads, [&s](int64_t) { s.Work(); });
}

}  // namespace leantune
