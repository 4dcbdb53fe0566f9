{
  "targets": [
    {
      "target_name": "leantune_native",
      "sources": ["csrc/addon.cc", "csrc/gemm.cc", "csrc/elementwise.cc", "csrc/movement.cc", "csrc/thread_pool.cc", "csrc/fused.cc", "csrc/fused_pointwise.cc", "csrc/quant.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-fno-math-errno", "-fno-trapping-math"],
      "cflags!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
