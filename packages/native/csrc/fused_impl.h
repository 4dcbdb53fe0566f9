// Included first by fused*.cc (only): what their kernels are compiled with.
#pragma once
// No fused multiply-add contraction: every ISA variant rounds each product and sum the
// same way (fills and AdamW give identical bytes on scalar, AVX2 and AVX-512 paths).
#pragma GCC optimize("fp-contract=off")

#include "fused.h"
#include "gemm.h"
#include "vecmath.h"
