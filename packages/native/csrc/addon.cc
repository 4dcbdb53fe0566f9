// N-API surface. Kernels are synchronous: the JS thread computes alongside the pool and
// returns when the product is written. Operands are Float32Array views; for the wasm
// backend they are views over the wasm heap (a SharedArrayBuffer with wasm threads), so
// nothing is copied. A view's data pointer is read per call, never cached: growing wasm
// memory replaces the buffer.
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <thread>

#include "elementwise.h"
#include "fused.h"
#include "gemm.h"
#include "movement.h"
#include "thread_pool.h"

namespace {

using leantune::Isa;
using leantune::ThreadPool;

std::unique_ptr<ThreadPool> g_pool;

ThreadPool& Pool() {
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(1);
  return *g_pool;
}

struct Failure {
  std::string message;
};

// The JS function being served, for messages about its arguments (one JS thread calls us).
const char* g_fn = "matmul";

void Check(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return;
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  throw Failure{std::string(what) + ": " + (info != nullptr && info->error_message != nullptr ? info->error_message : "N-API call failed")};
}

bool IsNullish(napi_env env, napi_value v) {
  napi_valuetype type;
  Check(env, napi_typeof(env, v, &type), "typeof");
  return type == napi_null || type == napi_undefined;
}

const char* TypedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return "Float32Array";
    case napi_int32_array: return "Int32Array";
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint16_array: return "Uint16Array";
    default: return "typed array";
  }
}

template <typename T>
T* TypedData(napi_env env, napi_value v, napi_typedarray_type want, const char* name, size_t* length) {
  bool is = false;
  Check(env, napi_is_typedarray(env, v, &is), name);
  napi_typedarray_type type;
  void* data = nullptr;
  if (is) Check(env, napi_get_typedarray_info(env, v, &type, length, &data, nullptr, nullptr), name);
  if (!is || type != want) {
    throw Failure{std::string(g_fn) + ": " + name + " must be a " + TypedArrayName(want)};
  }
  if (data == nullptr && *length > 0) throw Failure{std::string(g_fn) + ": " + name + " has no readable data (detached buffer?)"};
  return static_cast<T*>(data);
}

int64_t Int(napi_env env, napi_value v, const char* name) {
  int64_t out = 0;
  Check(env, napi_get_value_int64(env, v, &out), name);
  if (out < 0) throw Failure{std::string(g_fn) + ": " + name + " must be >= 0"};
  return out;
}

bool Bool(napi_env env, napi_value v, const char* name) {
  bool out = false;
  Check(env, napi_get_value_bool(env, v, &out), name);
  return out;
}

void CheckIndex(const int32_t* index, size_t length, int64_t batch, int64_t batches, const char* name) {
  if (static_cast<int64_t>(length) != batch) throw Failure{std::string(g_fn) + ": " + name + " needs one entry per output batch"};
  for (size_t i = 0; i < length; i++) {
    if (index[i] < 0 || index[i] >= batches) throw Failure{std::string(g_fn) + ": " + name + " holds a batch index out of range"};
  }
}

// matmul(a, b, out, m, n, k, transposeA, transposeB, batch, aIndex, bIndex, bias, activation, alpha)
napi_value MatMulJs(napi_env env, napi_callback_info info) {
  g_fn = "matmul";
  try {
    size_t argc = 14;
    napi_value argv[14];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 14) throw Failure{"matmul: expected 14 arguments (a, b, out, m, n, k, transposeA, transposeB, batch, aIndex, bIndex, bias, activation, alpha)"};
    leantune::MatMulDesc d;
    size_t aLen = 0, bLen = 0, outLen = 0, len = 0;
    d.a = TypedData<float>(env, argv[0], napi_float32_array, "a", &aLen);
    d.b = TypedData<float>(env, argv[1], napi_float32_array, "b", &bLen);
    d.out = TypedData<float>(env, argv[2], napi_float32_array, "out", &outLen);
    d.m = Int(env, argv[3], "m");
    d.n = Int(env, argv[4], "n");
    d.k = Int(env, argv[5], "k");
    d.transA = Bool(env, argv[6], "transposeA");
    d.transB = Bool(env, argv[7], "transposeB");
    d.batch = Int(env, argv[8], "batch");
    const int64_t aPlane = d.m * d.k, bPlane = d.k * d.n;
    if (static_cast<int64_t>(outLen) != d.batch * d.m * d.n) throw Failure{"matmul: out must hold batch·m·n values"};
    d.aBatches = aPlane == 0 ? 1 : static_cast<int64_t>(aLen) / aPlane;
    d.bBatches = bPlane == 0 ? 1 : static_cast<int64_t>(bLen) / bPlane;
    if (d.aBatches * aPlane != static_cast<int64_t>(aLen) || d.aBatches < 1) throw Failure{"matmul: a must hold a whole number (>= 1) of m·k matrices"};
    if (d.bBatches * bPlane != static_cast<int64_t>(bLen) || d.bBatches < 1) throw Failure{"matmul: b must hold a whole number (>= 1) of k·n matrices"};
    if (!IsNullish(env, argv[9])) {
      d.aIndex = TypedData<int32_t>(env, argv[9], napi_int32_array, "aIndex", &len);
      CheckIndex(d.aIndex, len, d.batch, d.aBatches, "aIndex");
    } else if (d.aBatches != 1 && d.aBatches != d.batch) {
      throw Failure{"matmul: a has neither 1 nor batch matrices; pass aIndex"};
    }
    if (!IsNullish(env, argv[10])) {
      d.bIndex = TypedData<int32_t>(env, argv[10], napi_int32_array, "bIndex", &len);
      CheckIndex(d.bIndex, len, d.batch, d.bBatches, "bIndex");
    } else if (d.bBatches != 1 && d.bBatches != d.batch) {
      throw Failure{"matmul: b has neither 1 nor batch matrices; pass bIndex"};
    }
    if (!IsNullish(env, argv[11])) {
      d.bias = TypedData<float>(env, argv[11], napi_float32_array, "bias", &len);
      if (static_cast<int64_t>(len) != d.n) throw Failure{"matmul: bias must hold n values (one per output column)"};
    }
    d.activation = static_cast<int>(Int(env, argv[12], "activation"));
    if (d.activation > leantune::kSigmoid) throw Failure{"matmul: unknown activation code"};
    double alpha = 0;
    Check(env, napi_get_value_double(env, argv[13], &alpha), "alpha");
    d.alpha = static_cast<float>(alpha);
    leantune::MatMul(d, Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

int OpCode(napi_env env, napi_value v, int last, const char* fn) {
  const int64_t op = Int(env, v, "op");
  if (op > last) throw Failure{std::string(fn) + ": unknown op code"};
  return static_cast<int>(op);
}

// binary(op, a, b, out, shape, aStrides, bStrides): broadcasting by strides (0 = broadcast).
napi_value BinaryJs(napi_env env, napi_callback_info info) {
  g_fn = "binary";
  try {
    size_t argc = 7;
    napi_value argv[7];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 7) throw Failure{"binary: expected 7 arguments (op, a, b, out, shape, aStrides, bStrides)"};
    const int op = OpCode(env, argv[0], leantune::kSquaredDifference, "binary");
    size_t aLen = 0, bLen = 0, outLen = 0, rank = 0, aRank = 0, bRank = 0;
    const float* a = TypedData<float>(env, argv[1], napi_float32_array, "a", &aLen);
    const float* b = TypedData<float>(env, argv[2], napi_float32_array, "b", &bLen);
    float* out = TypedData<float>(env, argv[3], napi_float32_array, "out", &outLen);
    const int32_t* shape = TypedData<int32_t>(env, argv[4], napi_int32_array, "shape", &rank);
    const int32_t* as = TypedData<int32_t>(env, argv[5], napi_int32_array, "aStrides", &aRank);
    const int32_t* bs = TypedData<int32_t>(env, argv[6], napi_int32_array, "bStrides", &bRank);
    if (rank < 1 || rank > leantune::kMaxRank || aRank != rank || bRank != rank) throw Failure{"binary: shape and strides need the same rank, 1 to 8"};
    int64_t shape64[leantune::kMaxRank], as64[leantune::kMaxRank], bs64[leantune::kMaxRank];
    int64_t size = 1, aLast = 0, bLast = 0;
    for (size_t d = 0; d < rank; d++) {
      if (shape[d] < 0 || as[d] < 0 || bs[d] < 0) throw Failure{"binary: shape and strides must be >= 0"};
      shape64[d] = shape[d], as64[d] = as[d], bs64[d] = bs[d];
      size *= shape[d];
      aLast += (shape[d] - 1) * static_cast<int64_t>(as[d]);
      bLast += (shape[d] - 1) * static_cast<int64_t>(bs[d]);
    }
    if (as[rank - 1] > 1 || bs[rank - 1] > 1) throw Failure{"binary: the innermost stride of a and b must be 0 or 1"};
    if (static_cast<int64_t>(outLen) != size) throw Failure{"binary: out must hold the product of shape"};
    if (size > 0 && (aLast >= static_cast<int64_t>(aLen) || bLast >= static_cast<int64_t>(bLen))) throw Failure{"binary: a strides reach past the end of a or b"};
    if (size > 0) leantune::Binary(op, a, b, out, static_cast<int>(rank), shape64, as64, bs64, Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// unary(op, x, out)
napi_value UnaryJs(napi_env env, napi_callback_info info) {
  g_fn = "unary";
  try {
    size_t argc = 3;
    napi_value argv[3];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 3) throw Failure{"unary: expected 3 arguments (op, x, out)"};
    const int op = OpCode(env, argv[0], leantune::kFloor, "unary");
    size_t xLen = 0, outLen = 0;
    const float* x = TypedData<float>(env, argv[1], napi_float32_array, "x", &xLen);
    float* out = TypedData<float>(env, argv[2], napi_float32_array, "out", &outLen);
    if (xLen != outLen) throw Failure{"unary: x and out must have the same length"};
    leantune::Unary(op, x, out, static_cast<int64_t>(xLen), Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// reduce(op, x, out, outer, reduce, inner): x as [outer, reduce, inner] → out [outer, inner].
napi_value ReduceJs(napi_env env, napi_callback_info info) {
  g_fn = "reduce";
  try {
    size_t argc = 6;
    napi_value argv[6];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 6) throw Failure{"reduce: expected 6 arguments (op, x, out, outer, reduce, inner)"};
    const int op = OpCode(env, argv[0], leantune::kMin, "reduce");
    size_t xLen = 0, outLen = 0;
    const float* x = TypedData<float>(env, argv[1], napi_float32_array, "x", &xLen);
    float* out = TypedData<float>(env, argv[2], napi_float32_array, "out", &outLen);
    const int64_t outer = Int(env, argv[3], "outer"), reduce = Int(env, argv[4], "reduce"), inner = Int(env, argv[5], "inner");
    if (static_cast<int64_t>(xLen) != outer * reduce * inner) throw Failure{"reduce: x must hold outer·reduce·inner values"};
    if (static_cast<int64_t>(outLen) != outer * inner) throw Failure{"reduce: out must hold outer·inner values"};
    leantune::Reduce(op, x, out, outer, reduce, inner, Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// stridedCopy(x, out, shape, strides): out row-major over shape, x read at Σ index·stride.
napi_value StridedCopyJs(napi_env env, napi_callback_info info) {
  g_fn = "stridedCopy";
  try {
    size_t argc = 4;
    napi_value argv[4];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 4) throw Failure{"stridedCopy: expected 4 arguments (x, out, shape, strides)"};
    size_t xLen = 0, outLen = 0, rank = 0, sRank = 0;
    const float* x = TypedData<float>(env, argv[0], napi_float32_array, "x", &xLen);
    float* out = TypedData<float>(env, argv[1], napi_float32_array, "out", &outLen);
    const int32_t* shape = TypedData<int32_t>(env, argv[2], napi_int32_array, "shape", &rank);
    const int32_t* strides = TypedData<int32_t>(env, argv[3], napi_int32_array, "strides", &sRank);
    if (rank < 1 || rank > leantune::kMaxRank || sRank != rank) throw Failure{"stridedCopy: shape and strides need the same rank, 1 to 8"};
    int64_t shape64[leantune::kMaxRank], strides64[leantune::kMaxRank], size = 1, last = 0;
    for (size_t d = 0; d < rank; d++) {
      if (shape[d] < 0 || strides[d] < 0) throw Failure{"stridedCopy: shape and strides must be >= 0"};
      shape64[d] = shape[d], strides64[d] = strides[d];
      size *= shape[d];
      last += (shape[d] - 1) * static_cast<int64_t>(strides[d]);
    }
    if (static_cast<int64_t>(outLen) != size) throw Failure{"stridedCopy: out must hold the product of shape"};
    if (size > 0 && last >= static_cast<int64_t>(xLen)) throw Failure{"stridedCopy: strides reach past the end of x"};
    if (size > 0) leantune::StridedCopy(x, out, static_cast<int>(rank), shape64, strides64, Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// gather(x, indices, out, outer, axis, inner): x [outer, axis, inner] → out [outer, indices.length, inner].
napi_value GatherJs(napi_env env, napi_callback_info info) {
  g_fn = "gather";
  try {
    size_t argc = 6;
    napi_value argv[6];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 6) throw Failure{"gather: expected 6 arguments (x, indices, out, outer, axis, inner)"};
    size_t xLen = 0, count = 0, outLen = 0;
    const float* x = TypedData<float>(env, argv[0], napi_float32_array, "x", &xLen);
    const int32_t* indices = TypedData<int32_t>(env, argv[1], napi_int32_array, "indices", &count);
    float* out = TypedData<float>(env, argv[2], napi_float32_array, "out", &outLen);
    const int64_t outer = Int(env, argv[3], "outer"), axis = Int(env, argv[4], "axis"), inner = Int(env, argv[5], "inner");
    if (static_cast<int64_t>(xLen) != outer * axis * inner) throw Failure{"gather: x must hold outer·axis·inner values"};
    if (static_cast<int64_t>(outLen) != outer * static_cast<int64_t>(count) * inner) throw Failure{"gather: out must hold outer·indices·inner values"};
    for (size_t i = 0; i < count; i++) {
      if (indices[i] < 0 || indices[i] >= axis) throw Failure{"gather: index " + std::to_string(indices[i]) + " is outside [0, " + std::to_string(axis) + ")"};
    }
    leantune::GatherRows(x, indices, out, outer, axis, inner, static_cast<int64_t>(count), Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// segmentSum(x, ids, out, segments): x [ids.length, inner] → out [segments, inner].
napi_value SegmentSumJs(napi_env env, napi_callback_info info) {
  g_fn = "segmentSum";
  try {
    size_t argc = 4;
    napi_value argv[4];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 4) throw Failure{"segmentSum: expected 4 arguments (x, ids, out, segments)"};
    size_t xLen = 0, rows = 0, outLen = 0;
    const float* x = TypedData<float>(env, argv[0], napi_float32_array, "x", &xLen);
    const int32_t* ids = TypedData<int32_t>(env, argv[1], napi_int32_array, "ids", &rows);
    float* out = TypedData<float>(env, argv[2], napi_float32_array, "out", &outLen);
    const int64_t segments = Int(env, argv[3], "segments");
    if (rows == 0 ? xLen != 0 : xLen % rows != 0) throw Failure{"segmentSum: x must hold one row per id"};
    const int64_t inner = rows == 0 ? 0 : static_cast<int64_t>(xLen / rows);
    if (static_cast<int64_t>(outLen) != segments * inner) throw Failure{"segmentSum: out must hold segments·inner values"};
    std::fill(out, out + outLen, 0.f);
    if (rows > 0 && inner > 0) leantune::SegmentSum(x, ids, out, static_cast<int64_t>(rows), inner, segments, Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// ---- Fused kernels (csrc/fused.h): argument checks name the function and the argument. ----

// Exactly `count` arguments, else a message listing them.
void FusedArgs(napi_env env, napi_callback_info info, size_t count, napi_value* argv, const char* names) {
  size_t argc = count;
  Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
  if (argc != count) throw Failure{std::string(g_fn) + ": expected " + std::to_string(count) + " arguments (" + names + "), got " + std::to_string(argc)};
}

double Number(napi_env env, napi_value v, const char* name) {
  napi_valuetype type;
  Check(env, napi_typeof(env, v, &type), name);
  double out = 0;
  if (type != napi_number || napi_get_value_double(env, v, &out) != napi_ok) throw Failure{std::string(g_fn) + ": " + name + " must be a number"};
  return out;
}

// A non-negative integer below 2^53.
int64_t Count(napi_env env, napi_value v, const char* name) {
  const double d = Number(env, v, name);
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
    throw Failure{std::string(g_fn) + ": " + name + " must be an integer >= 0"};
  }
  return static_cast<int64_t>(d);
}

// rows·cols, refusing products past 2^53 (no typed array is that long).
int64_t Elements(int64_t rows, int64_t cols) {
  if (cols > 0 && rows > 9007199254740991LL / cols) throw Failure{std::string(g_fn) + ": rows·cols is too large"};
  return rows * cols;
}

// A Float32Array (or, with `nullable`, null/undefined → nullptr) of exactly `want` values.
float* Floats(napi_env env, napi_value v, const char* name, int64_t want, const char* what, bool nullable = false) {
  if (nullable && IsNullish(env, v)) return nullptr;
  size_t len = 0;
  float* data = TypedData<float>(env, v, napi_float32_array, name, &len);
  if (static_cast<int64_t>(len) != want) {
    throw Failure{std::string(g_fn) + ": " + name + " must hold " + what + " = " + std::to_string(want) + " values, got " + std::to_string(len)};
  }
  return data;
}

const int32_t* Labels(napi_env env, napi_value v, int64_t rows) {
  size_t len = 0;
  const int32_t* data = TypedData<int32_t>(env, v, napi_int32_array, "labels", &len);
  if (static_cast<int64_t>(len) != rows) throw Failure{std::string(g_fn) + ": labels must hold rows = " + std::to_string(rows) + " values, got " + std::to_string(len)};
  return data;
}

template <typename Body>
napi_value Fused(napi_env env, const char* fn, const Body& body) {
  g_fn = fn;
  try {
    body();
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, (std::string(fn) + ": out of memory").c_str());
  }
  return nullptr;
}

// The arguments of a row kernel: rows and cols at argument `rowsAt`, row arrays checked
// against rows·cols ("Rows"), per-row arrays against rows ("PerRow"), [cols] ones ("PerCol").
struct RowCall {
  napi_env env;
  napi_value a[10];
  int64_t rows = 0, cols = 0, size = 0;
  RowCall(napi_env e, napi_callback_info info, size_t count, const char* names, int rowsAt) : env(e) {
    FusedArgs(env, info, count, a, names);
    rows = Count(env, a[rowsAt], "rows");
    cols = Count(env, a[rowsAt + 1], "cols");
    size = Elements(rows, cols);
  }
  float* Rows(int i, const char* name) const { return Floats(env, a[i], name, size, "rows·cols"); }
  float* PerRow(int i, const char* name) const { return Floats(env, a[i], name, rows, "rows"); }
  float* PerCol(int i, const char* name) const { return Floats(env, a[i], name, cols, "cols", true); }
  const int32_t* LabelsAt(int i) const { return Labels(env, a[i], rows); }
};

// softmaxCrossEntropy(logits, labels, loss, rows, cols)
napi_value SoftmaxCrossEntropyJs(napi_env env, napi_callback_info info) {
  return Fused(env, "softmaxCrossEntropy", [&] {
    const RowCall c(env, info, 5, "logits, labels, loss, rows, cols", 3);
    leantune::SoftmaxCrossEntropy(c.Rows(0, "logits"), c.LabelsAt(1), c.PerRow(2, "loss"), c.rows, c.cols, Pool());
  });
}

// softmaxCrossEntropyGrad(logits, labels, dloss, dlogits, rows, cols)
napi_value SoftmaxCrossEntropyGradJs(napi_env env, napi_callback_info info) {
  return Fused(env, "softmaxCrossEntropyGrad", [&] {
    const RowCall c(env, info, 6, "logits, labels, dloss, dlogits, rows, cols", 4);
    leantune::SoftmaxCrossEntropyGrad(c.Rows(0, "logits"), c.LabelsAt(1), c.PerRow(2, "dloss"), c.Rows(3, "dlogits"), c.rows, c.cols, Pool());
  });
}

// softmax(x, out, rows, cols)
napi_value SoftmaxJs(napi_env env, napi_callback_info info) {
  return Fused(env, "softmax", [&] {
    const RowCall c(env, info, 4, "x, out, rows, cols", 2);
    leantune::Softmax(c.Rows(0, "x"), c.Rows(1, "out"), c.rows, c.cols, Pool());
  });
}

// softmaxGrad(y, dy, dx, rows, cols)
napi_value SoftmaxGradJs(napi_env env, napi_callback_info info) {
  return Fused(env, "softmaxGrad", [&] {
    const RowCall c(env, info, 5, "y, dy, dx, rows, cols", 3);
    leantune::SoftmaxGrad(c.Rows(0, "y"), c.Rows(1, "dy"), c.Rows(2, "dx"), c.rows, c.cols, Pool());
  });
}

// layerNorm(x, gamma, beta, out, mean, rstd, rows, cols, eps)
napi_value LayerNormJs(napi_env env, napi_callback_info info) {
  return Fused(env, "layerNorm", [&] {
    const RowCall c(env, info, 9, "x, gamma, beta, out, mean, rstd, rows, cols, eps", 6);
    const double eps = Number(env, c.a[8], "eps");
    if (!(eps >= 0)) throw Failure{"layerNorm: eps must be >= 0"};
    leantune::LayerNorm(c.Rows(0, "x"), c.PerCol(1, "gamma"), c.PerCol(2, "beta"), c.Rows(3, "out"), c.PerRow(4, "mean"), c.PerRow(5, "rstd"),
                        c.rows, c.cols, static_cast<float>(eps), Pool());
  });
}

// layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols)
napi_value LayerNormGradJs(napi_env env, napi_callback_info info) {
  return Fused(env, "layerNormGrad", [&] {
    const RowCall c(env, info, 10, "dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols", 8);
    const float* dy = c.Rows(0, "dy");
    const float* x = c.Rows(1, "x");
    float* dx = c.Rows(5, "dx");
    if (c.size > 0 && (dx == dy || dx == x)) throw Failure{"layerNormGrad: dx must not share memory with dy or x"};
    leantune::LayerNormGrad(dy, x, c.PerCol(2, "gamma"), c.PerRow(3, "mean"), c.PerRow(4, "rstd"), dx, c.PerCol(6, "dgamma"), c.PerCol(7, "dbeta"),
                            c.rows, c.cols, Pool());
  });
}

// gelu(x, out, approximate) and geluGrad(x, dy, dx, approximate)
napi_value GeluCall(napi_env env, napi_callback_info info, bool grad) {
  return Fused(env, grad ? "geluGrad" : "gelu", [&] {
    napi_value a[4];
    const size_t count = grad ? 4 : 3;
    FusedArgs(env, info, count, a, grad ? "x, dy, dx, approximate" : "x, out, approximate");
    size_t len = 0;
    const float* x = TypedData<float>(env, a[0], napi_float32_array, "x", &len);
    const int64_t n = static_cast<int64_t>(len);
    float* out = Floats(env, a[count - 2], grad ? "dx" : "out", n, "x.length");
    const float* dy = grad ? Floats(env, a[1], "dy", n, "x.length") : nullptr;
    napi_valuetype type;
    Check(env, napi_typeof(env, a[count - 1], &type), "approximate");
    if (type != napi_boolean) throw Failure{std::string(g_fn) + ": approximate must be a boolean"};
    const bool approximate = Bool(env, a[count - 1], "approximate");
    if (grad) leantune::GeluGrad(x, dy, out, n, approximate, Pool());
    else leantune::Gelu(x, out, n, approximate, Pool());
  });
}
napi_value GeluJs(napi_env env, napi_callback_info info) { return GeluCall(env, info, false); }
napi_value GeluGradJs(napi_env env, napi_callback_info info) { return GeluCall(env, info, true); }

// adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2)
napi_value AdamWJs(napi_env env, napi_callback_info info) {
  return Fused(env, "adamw", [&] {
    napi_value a[11];
    FusedArgs(env, info, 11, a, "param, grad, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2");
    size_t n = 0;
    float* param = TypedData<float>(env, a[0], napi_float32_array, "param", &n);
    const int64_t size = static_cast<int64_t>(n);
    const float* grad = Floats(env, a[1], "grad", size, "param.length");
    float* m = Floats(env, a[2], "m", size, "param.length");
    float* v = Floats(env, a[3], "v", size, "param.length");
    const leantune::AdamWScalars s{Number(env, a[4], "lr"), Number(env, a[5], "beta1"), Number(env, a[6], "beta2"), Number(env, a[7], "eps"),
                                   Number(env, a[8], "weightDecay"), Number(env, a[9], "biasCorrection1"), Number(env, a[10], "biasCorrection2")};
    if (!(s.biasCorrection1 > 0 && s.biasCorrection1 <= 1)) throw Failure{"adamw: biasCorrection1 (1 - beta1^t) must be in (0, 1]"};
    if (!(s.biasCorrection2 > 0 && s.biasCorrection2 <= 1)) throw Failure{"adamw: biasCorrection2 (1 - beta2^t) must be in (0, 1]"};
    leantune::AdamW(param, grad, m, v, size, s, Pool());
  });
}

uint64_t Seed(napi_env env, napi_value hi, napi_value lo) {
  const int64_t h = Count(env, hi, "seedHi"), l = Count(env, lo, "seedLo");
  if (h > 0xffffffffLL || l > 0xffffffffLL) throw Failure{std::string(g_fn) + ": seedHi and seedLo must be uint32 values"};
  return (static_cast<uint64_t>(h) << 32) | static_cast<uint64_t>(l);
}

// fillUniform(out, seedHi, seedLo, low, high) and fillNormal(out, seedHi, seedLo, mean, std)
napi_value Fill(napi_env env, napi_callback_info info, bool normal) {
  return Fused(env, normal ? "fillNormal" : "fillUniform", [&] {
    napi_value a[5];
    FusedArgs(env, info, 5, a, normal ? "out, seedHi, seedLo, mean, std" : "out, seedHi, seedLo, low, high");
    size_t n = 0;
    float* out = TypedData<float>(env, a[0], napi_float32_array, "out", &n);
    const uint64_t seed = Seed(env, a[1], a[2]);
    const double p = Number(env, a[3], normal ? "mean" : "low"), q = Number(env, a[4], normal ? "std" : "high");
    if (normal && !(q >= 0)) throw Failure{"fillNormal: std must be >= 0"};
    if (!normal && !(p <= q)) throw Failure{"fillUniform: low must be <= high"};
    if (normal) leantune::FillNormal(out, static_cast<int64_t>(n), seed, static_cast<float>(p), static_cast<float>(q), Pool());
    else leantune::FillUniform(out, static_cast<int64_t>(n), seed, static_cast<float>(p), static_cast<float>(q), Pool());
  });
}
napi_value FillUniformJs(napi_env env, napi_callback_info info) { return Fill(env, info, false); }
napi_value FillNormalJs(napi_env env, napi_callback_info info) { return Fill(env, info, true); }

// setThreads(n): replaces the pool (the caller counts as one thread).
napi_value SetThreadsJs(napi_env env, napi_callback_info info) {
  try {
    size_t argc = 1;
    napi_value argv[1];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    const int64_t n = argc == 1 ? Int(env, argv[0], "threads") : 0;
    if (n < 1 || n > 256) throw Failure{"setThreads: threads must be an integer in [1, 256]"};
    if (!g_pool || g_pool->threads() != n) {
      g_pool.reset();
      g_pool = std::make_unique<ThreadPool>(static_cast<int>(n));
    }
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// setIsa(name): 'avx512' | 'avx2' | 'scalar'; returns false when this CPU lacks it.
napi_value SetIsaJs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[16] = {0};
  size_t len = 0;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "setIsa: pass 'avx512', 'avx2' or 'scalar'");
    return nullptr;
  }
  const std::string s(name);
  bool ok = false;
  if (s == "avx512") ok = leantune::SetIsa(Isa::kAvx512);
  else if (s == "avx2") ok = leantune::SetIsa(Isa::kAvx2);
  else if (s == "scalar") ok = leantune::SetIsa(Isa::kScalar);
  else {
    napi_throw_type_error(env, nullptr, ("setIsa: unknown instruction set '" + s + "'; pass 'avx512', 'avx2' or 'scalar'").c_str());
    return nullptr;
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

// info(): { isa, detectedIsa, threads }
napi_value InfoJs(napi_env env, napi_callback_info) {
  napi_value out, isa, detected, threads;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, leantune::IsaName(leantune::CurrentIsa()), NAPI_AUTO_LENGTH, &isa);
  napi_create_string_utf8(env, leantune::IsaName(leantune::DetectIsa()), NAPI_AUTO_LENGTH, &detected);
  napi_create_int32(env, Pool().threads(), &threads);
  napi_set_named_property(env, out, "isa", isa);
  napi_set_named_property(env, out, "detectedIsa", detected);
  napi_set_named_property(env, out, "threads", threads);
  return out;
}

// quantMatmul(a, out, m, n, k, transposeB, format, data, scales, dqCodes, dqScales, dqOffset, rows, cols):
// out [m, n] = a [m, k] · B, B = W [k, n] or Wᵀ (transposeB; W [n, k]) for a quantized W
// [rows, cols] (csrc/quant.h), dequantized block by block inside the GEMM's packing.
napi_value QuantMatMulJs(napi_env env, napi_callback_info info) {
  g_fn = "quantMatmul";
  try {
    size_t argc = 14;
    napi_value argv[14];
    Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc != 14) throw Failure{"quantMatmul: expected 14 arguments (a, out, m, n, k, transposeB, format, data, scales, dqCodes, dqScales, dqOffset, rows, cols)"};
    leantune::MatMulDesc d;
    leantune::QuantMatrix q;
    size_t aLen = 0, outLen = 0, dataLen = 0, len = 0;
    d.a = TypedData<float>(env, argv[0], napi_float32_array, "a", &aLen);
    d.out = TypedData<float>(env, argv[1], napi_float32_array, "out", &outLen);
    d.m = Int(env, argv[2], "m");
    d.n = Int(env, argv[3], "n");
    d.k = Int(env, argv[4], "k");
    d.transB = Bool(env, argv[5], "transposeB");
    q.format = static_cast<int>(Int(env, argv[6], "format"));
    q.rows = Int(env, argv[12], "rows");
    q.cols = Int(env, argv[13], "cols");
    const int64_t size = q.rows * q.cols;
    if (static_cast<int64_t>(aLen) != d.m * d.k) throw Failure{"quantMatmul: a must hold m·k values"};
    if (static_cast<int64_t>(outLen) != d.m * d.n) throw Failure{"quantMatmul: out must hold m·n values"};
    if ((d.transB ? d.n : d.k) != q.rows || (d.transB ? d.k : d.n) != q.cols) throw Failure{"quantMatmul: W [rows, cols] must be [k, n], or [n, k] with transposeB"};
    int64_t wantData = size;
    switch (q.format) {
      case leantune::kQuantBf16:
      case leantune::kQuantFp16:
        q.data = TypedData<uint16_t>(env, argv[7], napi_uint16_array, "data", &dataLen);
        break;
      case leantune::kQuantInt8:
        q.data = TypedData<int8_t>(env, argv[7], napi_int8_array, "data", &dataLen);
        break;
      case leantune::kQuantNf4:
        q.data = TypedData<uint8_t>(env, argv[7], napi_uint8_array, "data", &dataLen);
        wantData = (size + 1) / 2;
        break;
      default:
        throw Failure{"quantMatmul: unknown format code (1 bf16, 2 fp16, 3 int8, 4 nf4)"};
    }
    if (static_cast<int64_t>(dataLen) != wantData) throw Failure{"quantMatmul: data must hold rows·cols codes (nf4: two a byte)"};
    const int64_t blocks = (size + leantune::kNf4Block - 1) / leantune::kNf4Block;
    if (!IsNullish(env, argv[8])) {
      q.scales = TypedData<float>(env, argv[8], napi_float32_array, "scales", &len);
      const int64_t want = q.format == leantune::kQuantInt8 ? q.rows : blocks;
      if (q.format != leantune::kQuantInt8 && q.format != leantune::kQuantNf4) throw Failure{"quantMatmul: bf16/fp16 take no scales"};
      if (static_cast<int64_t>(len) != want) throw Failure{"quantMatmul: scales must hold one value a row (int8) or a block of 64 (nf4)"};
    } else if (q.format == leantune::kQuantInt8) {
      throw Failure{"quantMatmul: int8 needs scales (one a row)"};
    }
    if (q.format == leantune::kQuantNf4 && q.scales == nullptr) {
      if (IsNullish(env, argv[9]) || IsNullish(env, argv[10])) throw Failure{"quantMatmul: nf4 needs scales, or dqCodes and dqScales (double quantization)"};
      q.dqCodes = TypedData<int8_t>(env, argv[9], napi_int8_array, "dqCodes", &len);
      if (static_cast<int64_t>(len) != blocks) throw Failure{"quantMatmul: dqCodes must hold one code a block of 64"};
      q.dqScales = TypedData<float>(env, argv[10], napi_float32_array, "dqScales", &len);
      if (static_cast<int64_t>(len) != (blocks + leantune::kDoubleQuantGroup - 1) / leantune::kDoubleQuantGroup) throw Failure{"quantMatmul: dqScales must hold one scale a group of 256 blocks"};
      Check(env, napi_get_value_double(env, argv[11], &q.dqOffset), "dqOffset");
    }
    d.quantB = &q;
    leantune::MatMul(d, Pool());
    return nullptr;
  } catch (const Failure& f) {
    napi_throw_error(env, nullptr, f.message.c_str());
    return nullptr;
  }
}

// Joins the pool's threads before the environment goes away.
void Cleanup(void*) { g_pool.reset(); }

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"matmul", nullptr, MatMulJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"quantMatmul", nullptr, QuantMatMulJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, BinaryJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, UnaryJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduce", nullptr, ReduceJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stridedCopy", nullptr, StridedCopyJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gather", nullptr, GatherJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"segmentSum", nullptr, SegmentSumJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmaxCrossEntropy", nullptr, SoftmaxCrossEntropyJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmaxCrossEntropyGrad", nullptr, SoftmaxCrossEntropyGradJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, SoftmaxJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmaxGrad", nullptr, SoftmaxGradJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNormJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNormGrad", nullptr, LayerNormGradJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gelu", nullptr, GeluJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, GeluGradJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamWJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fillUniform", nullptr, FillUniformJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fillNormal", nullptr, FillNormalJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreadsJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setIsa", nullptr, SetIsaJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, InfoJs, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_add_env_cleanup_hook(env, Cleanup, nullptr);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
