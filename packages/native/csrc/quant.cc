#include "quant.h"

#include <algorithm>
#include <cstring>

namespace leantune {
namespace {

// bitsandbytes' NF4 code book (the QLoRA paper's 4-bit NormalFloat), as float32.
constexpr float kNf4Code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

inline float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float Bf16(uint16_t h) { return FromBits(static_cast<uint32_t>(h) << 16); }

// IEEE half → float, exact (subnormals normalised, Inf/NaN kept).
inline float Fp16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return FromBits(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return FromBits(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return FromBits(sign);
  uint32_t shifts = 0;
  while ((mant & 0x400u) == 0) mant <<= 1, shifts++;
  return FromBits(sign | ((113u - shifts) << 23) | ((mant & 0x3ffu) << 13));
}

inline float Nf4Absmax(const QuantMatrix& q, int64_t block) {
  if (q.scales != nullptr) return q.scales[block];
  return static_cast<float>(static_cast<double>(q.dqCodes[block]) * static_cast<double>(q.dqScales[block / kDoubleQuantGroup]) + q.dqOffset);
}

}  // namespace

void DecodeRun(const QuantMatrix& q, int64_t row, int64_t col0, int64_t len, float* out) {
  const int64_t start = row * q.cols + col0;
  switch (q.format) {
    case kQuantBf16: {
      const uint16_t* src = static_cast<const uint16_t*>(q.data) + start;
      for (int64_t i = 0; i < len; i++) out[i] = Bf16(src[i]);
      return;
    }
    case kQuantFp16: {
      const uint16_t* src = static_cast<const uint16_t*>(q.data) + start;
      for (int64_t i = 0; i < len; i++) out[i] = Fp16(src[i]);
      return;
    }
    case kQuantInt8: {
      const int8_t* src = static_cast<const int8_t*>(q.data) + start;
      const float scale = q.scales[row];
      for (int64_t i = 0; i < len; i++) out[i] = static_cast<float>(src[i]) * scale;
      return;
    }
    case kQuantNf4: {
      const uint8_t* packed = static_cast<const uint8_t*>(q.data);
      int64_t i = 0;
      while (i < len) {
        // One block (or the part of it in this run) at a time: one absmax lookup per block.
        const int64_t e = start + i, block = e / kNf4Block;
        const int64_t end = std::min<int64_t>(len, (block + 1) * kNf4Block - start);
        const float absmax = Nf4Absmax(q, block);
        for (; i < end; i++) {
          const int64_t idx = start + i;
          const uint8_t byte = packed[idx >> 1];
          out[i] = kNf4Code[(idx & 1) != 0 ? (byte & 0x0f) : (byte >> 4)] * absmax;
        }
      }
      return;
    }
    default:
      for (int64_t i = 0; i < len; i++) out[i] = 0.f;
  }
}

}  // namespace leantune
