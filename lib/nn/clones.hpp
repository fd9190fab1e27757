#pragma once
// VECTOR_CLONES before a kernel's function: compiled twice, for AVX2 and for
// the baseline x86-64 the build targets, and the one this processor runs
// picked when the program loads (GCC's target_clones). AVX2 without FMA, so
// no multiply-add is fused: both clones give the same bytes. GCC only: clang
// 14 clones no template, and its builds (make fuzz's) run the baseline.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif
