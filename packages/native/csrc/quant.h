// Quantized weight matrices that the GEMM reads as its B operand, dequantizing while it
// packs (QLoRA on a CPU, @leantune/tensor's QuantizedWeight). Only the packed KC×nc block
// the GEMM builds anyway ever holds fp32 values; the full fp32 matrix is never formed.
#pragma once
#include <cstdint>

namespace leantune {

// Codes as @leantune/native's QUANT_CODES numbers them.
enum QuantFormat : int { kQuantBf16 = 1, kQuantFp16 = 2, kQuantInt8 = 3, kQuantNf4 = 4 };

constexpr int64_t kNf4Block = 64;
constexpr int64_t kDoubleQuantGroup = 256;

// A row-major [rows, cols] matrix W in one of the formats:
// - bf16 / fp16: uint16 bit patterns;
// - int8: codes, value = code · scales[row];
// - nf4: two 4-bit codes a byte (element 2i in the high nibble), value = kNf4Code[code] ·
//   absmax of its block of 64 (flattened index / 64); absmax = scales[block], or with double
//   quantization dqCodes[block] · dqScales[block / 256] + dqOffset (computed in double).
struct QuantMatrix {
  int format = 0;
  const void* data = nullptr;
  const float* scales = nullptr;
  const int8_t* dqCodes = nullptr;
  const float* dqScales = nullptr;
  double dqOffset = 0;
  int64_t rows = 0, cols = 0;
};

// out[0, len) = W[row][col0, col0 + len).
void DecodeRun(const QuantMatrix& q, int64_t row, int64_t col0, int64_t len, float* out);

}  // namespace leantune
