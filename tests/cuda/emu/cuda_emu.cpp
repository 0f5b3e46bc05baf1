// Fiber scheduler behind cuda_emu.h (see there).
#include "cuda_emu.h"

#include <ucontext.h>

// Fiber switches. glibc's swapcontext makes a sigprocmask system call on every switch, which was ~70% of the
// emulated CUDA tests' time (perf); on x86-64 a six-register switch in user space replaces it (the SysV
// callee-saved registers; fibers never change the FPU control words). Elsewhere, or with
// TT_EMU_FIBERS=ucontext in the environment (so the portable path stays tested on x86-64): ucontext.
#if defined(__x86_64__)
#define TT_EMU_ASM_SWITCH 1
// Saves the callee-saved registers on the current stack, stores its pointer in *save_sp, continues on
// next_sp.
extern "C" void tt_emu_switch(void** save_sp, void* next_sp);
asm(R"(
  .pushsection .text
  .globl tt_emu_switch
  .hidden tt_emu_switch
  .type tt_emu_switch, @function
tt_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size tt_emu_switch, .-tt_emu_switch
  .popsection
)");
#endif

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace tt::emu {

dim3 g_thread_idx, g_block_idx, g_block_dim, g_grid_dim;

namespace {

constexpr size_t kStackBytes = 128 * 1024;

// The user-space switch unless the environment asks for ucontext (read once).
bool asm_switch() {
#ifdef TT_EMU_ASM_SWITCH
  static const bool on = [] {
    const char* v = std::getenv("TT_EMU_FIBERS");
    return v == nullptr || std::strcmp(v, "ucontext") != 0;
  }();
  return on;
#else
  return false;
#endif
}

struct Fiber {
  void* sp = nullptr;  // asm switch
  ucontext_t ctx;      // ucontext
  std::vector<char> stack;
  dim3 tid;
  bool done = false;
};

struct Barrier {
  int arrived = 0;
  uint64_t generation = 0;
};

void* g_main_sp = nullptr;
ucontext_t g_main;
std::vector<Fiber> g_fibers;
int g_current = 0;
int g_threads = 0;
const std::function<void()>* g_kernel = nullptr;
std::vector<char> g_dynamic_smem;
std::vector<uint64_t> g_exchange;
Barrier g_block_barrier;
std::vector<Barrier> g_warp_barriers;

void yield() {
#ifdef TT_EMU_ASM_SWITCH
  if (asm_switch()) {
    tt_emu_switch(&g_fibers[size_t(g_current)].sp, g_main_sp);
    return;
  }
#endif
  swapcontext(&g_fibers[size_t(g_current)].ctx, &g_main);
}

void wait(Barrier& b, int count) {
  const uint64_t gen = b.generation;
  if (++b.arrived == count) {
    b.arrived = 0;
    ++b.generation;
    return;
  }
  while (b.generation == gen) yield();
}

void fiber_entry() {
  (*g_kernel)();
  g_fibers[size_t(g_current)].done = true;
  if (asm_switch()) {
    yield();  // never resumed: the scheduler skips finished fibers
    __builtin_trap();
  }
  // (ucontext) returning resumes uc_link, the scheduler
}

// Makes f start at fiber_entry on its own stack when next switched to.
void prepare(Fiber& f) {
  if (f.stack.empty()) f.stack.resize(kStackBytes);
  if (asm_switch()) {
    // tt_emu_switch pops six registers, then returns into fiber_entry. The first frame is 64 bytes below a
    // 16-byte aligned top, so fiber_entry starts with rsp % 16 == 8, as after a call.
    const uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack.data()) + f.stack.size()) & ~uintptr_t(15);
    void** frame = reinterpret_cast<void**>(top - 64);
    for (int i = 0; i < 6; ++i) frame[i] = nullptr;
    frame[6] = reinterpret_cast<void*>(&fiber_entry);
    frame[7] = nullptr;
    f.sp = frame;
    return;
  }
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack.data();
  f.ctx.uc_stack.ss_size = f.stack.size();
  f.ctx.uc_link = &g_main;
  makecontext(&f.ctx, fiber_entry, 0);
}

void resume(Fiber& f) {
#ifdef TT_EMU_ASM_SWITCH
  if (asm_switch()) {
    tt_emu_switch(&g_main_sp, f.sp);
    return;
  }
#endif
  swapcontext(&g_main, &f.ctx);
}

}  // namespace

int linear_tid() {
  return int(g_thread_idx.x + g_thread_idx.y * g_block_dim.x +
             g_thread_idx.z * g_block_dim.x * g_block_dim.y);
}
void syncthreads() {
  wait(g_block_barrier, g_threads);
}
void warp_barrier() {
  const int w = linear_tid() / 32;
  wait(g_warp_barriers[size_t(w)], std::min(32, g_threads - w * 32));
}
void* exchange_slot(int tid) {
  return &g_exchange[size_t(tid)];
}
void* dynamic_shared_base() {
  return g_dynamic_smem.data();
}

void launch(dim3 grid, dim3 block, size_t dynamic_smem_bytes, const std::function<void()>& kernel) {
  g_threads = int(block.x * block.y * block.z);
  if (g_threads <= 0 || g_threads > 1024) throw std::runtime_error("emu: bad block size");
  g_kernel = &kernel;
  g_block_dim = block;
  g_grid_dim = grid;
  g_dynamic_smem.assign(dynamic_smem_bytes + 16, 0);
  g_exchange.assign(size_t(g_threads), 0);
  g_fibers.resize(size_t(g_threads));
  g_warp_barriers.assign(size_t((g_threads + 31) / 32), Barrier{});
  // A GPU runs blocks in no fixed order and a block's threads in no fixed order between barriers. Here
  // every other launch visits its blocks last to first, and every other block (alternating between
  // launches) runs its threads last to first, so a kernel that depends on an order (a missing
  // __syncthreads, a block reading another block's output) sees both directions in the tests.
  static uint64_t launch_count = 0;
  ++launch_count;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  for (uint64_t n = 0; n < blocks; ++n) {
    const uint64_t b = (launch_count & 1) ? blocks - 1 - n : n;
    const bool threads_reversed = ((launch_count + b) & 1) != 0;
    g_block_idx = dim3(unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / grid.x / grid.y));
    // Poison dynamic shared memory so reads of never-written values show up as NaN.
    std::fill(reinterpret_cast<float*>(g_dynamic_smem.data()),
              reinterpret_cast<float*>(g_dynamic_smem.data()) + dynamic_smem_bytes / 4, std::nanf(""));
    g_block_barrier = Barrier{};
    for (auto& w : g_warp_barriers) w = Barrier{};
    int t = 0;
    for (unsigned z = 0; z < block.z; ++z)
      for (unsigned y = 0; y < block.y; ++y)
        for (unsigned x = 0; x < block.x; ++x, ++t) {
          Fiber& f = g_fibers[size_t(t)];
          f.tid = dim3(x, y, z);
          f.done = false;
          prepare(f);
        }
    bool running = true;
    while (running) {
      running = false;
      for (int k = 0; k < g_threads; ++k) {
        const int i = threads_reversed ? g_threads - 1 - k : k;
        if (g_fibers[size_t(i)].done) continue;
        running = true;
        g_current = i;
        g_thread_idx = g_fibers[size_t(i)].tid;
        resume(g_fibers[size_t(i)]);
      }
    }
  }
}

}  // namespace tt::emu
