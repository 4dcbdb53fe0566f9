// Packed, cache-blocked single-precision GEMM with batches, transposes and a fused
// bias/activation epilogue. No BLAS is linked: this is the whole implementation.
#pragma once
#include <cstdint>

#include "quant.h"

namespace leantune {

class ThreadPool;

enum Activation : int { kLinear = 0, kRelu = 1, kRelu6 = 2, kLeakyRelu = 3, kElu = 4, kSigmoid = 5 };

// Instruction set of the micro-kernel; chosen once from the CPU, overridable for tests.
enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// out[o] = act(op(A[aIndex[o]]) · op(B[bIndex[o]]) + bias) for o in [0, batch).
// A is [aBatches, m, k] ([aBatches, k, m] when transA); B is [bBatches, k, n]
// ([bBatches, n, k] when transB); out is [batch, m, n]; all dense row-major.
struct MatMulDesc {
  const float* a = nullptr;
  const float* b = nullptr;
  float* out = nullptr;
  int64_t m = 0, n = 0, k = 0;
  bool transA = false, transB = false;
  int64_t batch = 1;
  // Batch index into A / B per output batch; null means "o" (or 0 when that side has one batch).
  const int32_t* aIndex = nullptr;
  const int32_t* bIndex = nullptr;
  int64_t aBatches = 1, bBatches = 1;
  const float* bias = nullptr;  // n values (one per column) or null
  // When set, B is this quantized matrix W (one batch; `b` unused): B = W [k, n], or Wᵀ
  // when transB (W [n, k]). It is dequantized block by block as B is packed.
  const QuantMatrix* quantB = nullptr;
  int activation = kLinear;
  float alpha = 0.2f;  // leaky-relu slope
};

Isa DetectIsa();
Isa CurrentIsa();
// Returns false when the CPU cannot run `isa`.
bool SetIsa(Isa isa);
const char* IsaName(Isa isa);

void MatMul(const MatMulDesc& desc, ThreadPool& pool);

}  // namespace leantune
