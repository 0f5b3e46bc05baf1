// CUDA training-step benchmark: one optimizer step (zero_grads + forward_backward + AdamW) of the
// seed config (configs/qwen3_demo.json) at B = 32, T = 512 through Qwen3Model + CudaBackend.
//
//   cuda_train_bench [--config PATH] [--batch 32] [--seq 512] [--warmup 10] [--steps 50]
//                    [--profile-steps 10] [--json OUT.json]
//
// Reports: median / p10 / p90 step time over --steps synchronised steps after --warmup, the mean
// step time of a run without per-step syncs, tokens/s, MFU against Qwen3Config::train_flops and
// the H100 bf16 dense peak (989 TFLOP/s), peak memory (backend-tracked and cudaMemGetInfo), and a
// per-op-family breakdown from cudaEvents (a separate profiled run). Targets: <= 12 ms, <= 6 GB.
// Without a GPU it prints why and exits 0. Built against the CPU emulation (tests/cuda, cuda_emu_train_bench)
// it reports the memory numbers only.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/check.h"
#include "cuda/cuda_backend.h"
#include "model/model.h"

namespace {

constexpr double kHopperBf16DensePeakFlops = 989e12;           // H100 and H200 SXM alike
constexpr double kTargetStepMs = 12.0, kTargetMemoryGb = 6.0;  // the seed step on one H200

struct Args {
  std::string config = std::string(TT_SOURCE_DIR) + "/configs/qwen3_demo.json";
  int64_t batch = 32, seq = 512, warmup = 10, steps = 50, profile_steps = 10;
  std::string json;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      TT_CHECK(i + 1 < argc) << k << " needs a value";
      return argv[++i];
    };
    if (k == "--config")
      a.config = value();
    else if (k == "--batch")
      a.batch = std::stoll(value());
    else if (k == "--seq")
      a.seq = std::stoll(value());
    else if (k == "--warmup")
      a.warmup = std::stoll(value());
    else if (k == "--steps")
      a.steps = std::stoll(value());
    else if (k == "--profile-steps")
      a.profile_steps = std::stoll(value());
    else if (k == "--json")
      a.json = value();
    else
      TT_FAIL() << "unknown argument " << k << tt::hint("see the header of bench/cuda/cuda_train_bench.cpp");
  }
  TT_CHECK(a.batch > 0 && a.seq > 1 && a.steps > 0 && a.warmup >= 0) << "bad sizes";
  return a;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = size_t(p * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args = parse(argc, argv);
    if (!tt::is_cuda_available()) {
      std::printf("no CUDA GPU available (%s): CUDA training benchmark skipped\n",
                  tt::cuda_unavailable_reason().c_str());
      return tt::cuda_required_by_env() ? 1 : 0;
    }
    const tt::Qwen3Config cfg = tt::Qwen3Config::load(args.config);
    auto backend = tt::make_cuda_backend(0);
    auto* cuda = dynamic_cast<tt::cuda::CudaBackend*>(backend.get());
    TT_ASSERT(cuda != nullptr);
    tt::Qwen3Model model(cfg, *backend, args.batch, args.seq);
    model.init_weights(1);

    const int64_t B = args.batch, T = args.seq, N = B * T;
    std::mt19937_64 rng(7);
    std::vector<std::vector<int32_t>> batches(4, std::vector<int32_t>(size_t(N)));
    for (auto& b : batches)
      for (auto& t : b) t = int32_t(rng() % uint64_t(cfg.vocab_size));
    tt::AdamWArgs adam;
    adam.lr = 3e-4f;
    adam.weight_decay = 0.1f;
    adam.beta2 = 0.95f;
    int64_t step = 0;
    auto train_step = [&]() {
      model.zero_grads();
      model.forward_backward(batches[size_t(step % 4)].data(), B, T, 1.0f / float(B * (T - 1)));
      adam.step = ++step;
      model.optimizer_step(adam);
    };
    using clock = std::chrono::steady_clock;
    auto ms_since = [](clock::time_point t0) {
      return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    };

    // The report's header and memory lines, shared by the GPU report and the emulated one.
    auto print_header = [&] {
      std::printf("# CUDA training step: %s, B=%lld T=%lld, %s\n",
                  std::filesystem::path(args.config).filename().c_str(), (long long)B, (long long)T,
                  cuda->device_name().c_str());
      std::printf("parameters            %lld\n", (long long)cfg.num_parameters());
    };
    struct Memory {
      double peak_gb, used_gb;
    };
    auto print_memory = [&] {
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      const Memory m{double(backend->peak_memory_bytes()) / 1e9, double(total_b - free_b) / 1e9};
      std::printf("peak memory           %.2f GB backend-tracked, %.2f GB device in use (cudaMemGetInfo)\n",
                  m.peak_gb, m.used_gb);
      return m;
    };

    for (int64_t i = 0; i < args.warmup; ++i) train_step();
    backend->synchronize();
#ifdef TT_CUDA_EMULATION
    {
      train_step();  // at least one step, whatever --warmup says
      // tests/cuda: the CUDA emulator on the CPU (with TT_EMU_SKIP_COMPUTE=1 it computes nothing). Only the
      // allocation numbers mean anything: the backend's own memory for steps of this shape.
      print_header();
      const Memory m = print_memory();
      std::printf(
          "targets               memory <= %.0f GB: %s (no times, MFU or losses on the emulator; a real GPU "
          "adds the CUDA context and cuBLASLt's own allocations)\n",
          kTargetMemoryGb, m.peak_gb <= kTargetMemoryGb ? "met" : "MISSED");
      return 0;
    }
#endif

    std::vector<double> times;
    for (int64_t i = 0; i < args.steps; ++i) {
      const auto t0 = clock::now();
      train_step();
      backend->synchronize();
      times.push_back(ms_since(t0));
    }
    const tt::StepStats stats = model.last_step_stats();
    const auto t_run = clock::now();
    for (int64_t i = 0; i < args.steps; ++i) train_step();
    backend->synchronize();
    const double mean_unsynced = ms_since(t_run) / double(args.steps);

    // Per op family, in a separate profiled run (event records perturb timing slightly).
    cuda->reset_op_timings();
    cuda->set_op_timing(true);
    for (int64_t i = 0; i < args.profile_steps; ++i) train_step();
    std::vector<tt::cuda::OpTiming> fam = cuda->op_timings();
    cuda->set_op_timing(false);

    const double median = percentile(times, 0.5);
    const double flops = cfg.train_flops(B, T);
    const double tokens_per_s = double(B * T) / (median * 1e-3);
    const double mfu = flops / (median * 1e-3) / kHopperBf16DensePeakFlops;

    print_header();
    std::printf(
        "step median           %.2f ms   (p10 %.2f, p90 %.2f; %lld synced steps after %lld warm-up)\n",
        median, percentile(times, 0.1), percentile(times, 0.9), (long long)args.steps,
        (long long)args.warmup);
    std::printf("step mean, no syncs   %.2f ms\n", mean_unsynced);
    std::printf("tokens/s              %.0f\n", tokens_per_s);
    std::printf("train FLOPs/step      %.3e  -> %.1f TFLOP/s, MFU %.1f%% of 989 TFLOP/s\n", flops,
                flops / (median * 1e-3) / 1e12, 100.0 * mfu);
    const Memory mem = print_memory();
    std::printf("last loss / grad norm %.4f / %.4f\n", stats.loss, stats.grad_norm);
    std::printf("targets               step <= %.0f ms: %s; memory <= %.0f GB: %s\n", kTargetStepMs,
                median <= kTargetStepMs ? "met" : "MISSED", kTargetMemoryGb,
                mem.peak_gb <= kTargetMemoryGb ? "met" : "MISSED");
    double fam_total = 0;
    for (const auto& f : fam) fam_total += f.total_ms;
    std::printf("\n| op family | ms/step | share | calls/step |\n|---|---:|---:|---:|\n");
    std::sort(fam.begin(), fam.end(), [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
    const double ps = double(std::max<int64_t>(1, args.profile_steps));
    for (const auto& f : fam)
      std::printf("| %s | %.3f | %.1f%% | %.0f |\n", f.family.c_str(), f.total_ms / ps,
                  100.0 * f.total_ms / std::max(fam_total, 1e-9), double(f.calls) / ps);
    std::printf("| (sum of op time) | %.3f | | |\n", fam_total / ps);

    if (!args.json.empty()) {
      nlohmann::ordered_json j;
      j["device"] = cuda->device_name();
      j["config"] = args.config;
      j["batch"] = B;
      j["seq"] = T;
      j["step_ms_median"] = median;
      j["step_ms_p10"] = percentile(times, 0.1);
      j["step_ms_p90"] = percentile(times, 0.9);
      j["step_ms_mean_unsynced"] = mean_unsynced;
      j["tokens_per_s"] = tokens_per_s;
      j["train_flops"] = flops;
      j["mfu"] = mfu;
      j["peak_memory_gb"] = mem.peak_gb;
      j["device_used_gb"] = mem.used_gb;
      for (const auto& f : fam) j["op_ms_per_step"][f.family] = f.total_ms / ps;
      std::ofstream(args.json) << j.dump(2) << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
