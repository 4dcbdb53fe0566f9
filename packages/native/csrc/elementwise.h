// Float32 elementwise and reduction kernels over dense buffers, split across the pool.
#pragma once
#include <cstdint>

namespace leantune {

class ThreadPool;

enum BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kPow = 4, kMaximum = 5, kMinimum = 6, kSquaredDifference = 7 };
enum UnaryOp : int { kSquare = 0, kSqrt = 1, kRsqrt = 2, kExp = 3, kLog = 4, kTanh = 5, kNeg = 6, kSigmoidU = 7, kAbs = 8, kReluU = 9, kFloor = 10 };
enum ReduceOp : int { kSum = 0, kMean = 1, kMax = 2, kMin = 3 };

constexpr int kMaxRank = 8;

// out[idx] = op(a[Σ idx_d·aStride_d], b[Σ idx_d·bStride_d]) over `shape` (row-major out).
// Strides are 0 on broadcast axes. The innermost stride of each input must be 0 or 1.
void Binary(int op, const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* aStrides,
            const int64_t* bStrides, ThreadPool& pool);

void Unary(int op, const float* x, float* out, int64_t size, ThreadPool& pool);

// x viewed as [outer, reduce, inner] → out [outer, inner].
void Reduce(int op, const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner, ThreadPool& pool);

}  // namespace leantune
