// Fiber scheduler behind cuda_emu.h (see there).
#include "cuda_emu.h"

#include <ucontext.h>

#include <stdexcept>
#include <vector>

namespace tt::emu {

dim3 g_thread_idx, g_block_idx, g_block_dim, g_grid_dim;

namespace {

constexpr size_t kStackBytes = 128 * 1024;

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  dim3 tid;
  bool done = false;
};

struct Barrier {
  int arrived = 0;
  uint64_t generation = 0;
};

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
  // returning resumes uc_link (the scheduler)
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
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        g_block_idx = dim3(bx, by, bz);
        // Poison dynamic shared memory so reads of never-written values show up as NaN.
        std::fill(reinterpret_cast<float*>(g_dynamic_smem.data()),
                  reinterpret_cast<float*>(g_dynamic_smem.data()) + dynamic_smem_bytes / 4, std::nanf(""));
        g_block_barrier = Barrier{};
        for (auto& b : g_warp_barriers) b = Barrier{};
        int t = 0;
        for (unsigned z = 0; z < block.z; ++z)
          for (unsigned y = 0; y < block.y; ++y)
            for (unsigned x = 0; x < block.x; ++x, ++t) {
              Fiber& f = g_fibers[size_t(t)];
              f.tid = dim3(x, y, z);
              f.done = false;
              if (f.stack.empty()) f.stack.resize(kStackBytes);
              getcontext(&f.ctx);
              f.ctx.uc_stack.ss_sp = f.stack.data();
              f.ctx.uc_stack.ss_size = f.stack.size();
              f.ctx.uc_link = &g_main;
              makecontext(&f.ctx, fiber_entry, 0);
            }
        bool running = true;
        while (running) {
          running = false;
          for (int i = 0; i < g_threads; ++i) {
            if (g_fibers[size_t(i)].done) continue;
            running = true;
            g_current = i;
            g_thread_idx = g_fibers[size_t(i)].tid;
            swapcontext(&g_main, &g_fibers[size_t(i)].ctx);
          }
        }
      }
}

}  // namespace tt::emu
