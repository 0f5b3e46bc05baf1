// The scratch memory of the CPU ops: what an op holds between calls (attention's per-worker scores, the LM
// head's logits, q/k-norm's per-head copies), and the exact sizes the ops grow it to, which the backend's
// memory estimate adds up (CpuBackend::op_scratch_bytes).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace tt::cpu {

// Scratch memory an op owns between calls (grows, never shrinks): `values` in T, and `act` for rounded
// A copies of GEMM inputs (used only when A differs from T).
template <class T, class A = T>
struct Scratch {
  std::vector<T> values;
  std::vector<A> act;
};

// Elements an op needs in a Scratch. Each op that uses one has a *_scratch(shape) function beside it, which
// the op grows by and the backend's memory estimate adds up (CpuBackend::op_scratch_bytes).
struct ScratchNeed {
  size_t values = 0, act = 0;
};
inline ScratchNeed max(ScratchNeed a, ScratchNeed b) {
  return {std::max(a.values, b.values), std::max(a.act, b.act)};
}

// Grows `scratch` to at least `need`. No op's scratch contents outlive the op, so a buffer that must grow is
// freed before the larger one is allocated (no old + new peak) and gets exactly the size asked for, not
// std::vector's doubling: the scratch then holds exactly the largest need of the ops that ran.
template <class X>
void grow_buffer(std::vector<X>& v, size_t n) {
  if (v.size() >= n) return;
  std::vector<X>().swap(v);
  v.resize(n);
}
template <class T, class A>
void grow(Scratch<T, A>& scratch, ScratchNeed need) {
  grow_buffer(scratch.values, need.values);
  grow_buffer(scratch.act, need.act);
}

}  // namespace tt::cpu
