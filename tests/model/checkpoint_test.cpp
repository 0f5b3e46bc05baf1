// Checkpoints: safetensors round trips (F32 bit-exact, BF16 within rounding), the header checked by
// an independent minimal parser, corrupt/truncated/mismatched files, optimizer state exact resume.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "model/checkpoint_io.h"
#include "model/dtype.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "tiny_config.h"

namespace fs = std::filesystem;
using tt::test::tiny_config;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("tt_model_ckpt_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tt::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<int32_t> some_tokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = int32_t((i * 31 + 7) % vocab);
  return t;
}

}  // namespace

TEST(Checkpoint, F32RoundTripIsBitExactAndHeaderIsStandard) {
  TempDir dir;
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  tt::Qwen3Model a(cfg, *be, 1, 8), b(cfg, *be, 1, 8);
  a.init_weights(1);
  b.init_weights(2);
  const fs::path file = dir.path / "model.safetensors";
  tt::save_safetensors(a, file);
  tt::load_safetensors(b, file);
  const auto pa = a.get_params_f32(), pb = b.get_params_f32();
  ASSERT_EQ(pa.size(), pb.size());
  EXPECT_EQ(std::memcmp(pa.data(), pb.data(), pa.size() * 4), 0);

  // Independent parse of the file: u64 LE length, JSON, offsets tile the data in name order.
  const std::string bytes = slurp(file);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | uint8_t(bytes[size_t(i)]);
  EXPECT_EQ((8 + hlen) % 8, 0u) << "header padded to 8 bytes";
  const std::string header = bytes.substr(8, hlen);
  const std::string padding = header.substr(header.rfind('}') + 1);
  EXPECT_EQ(padding.find_first_not_of(' '), std::string::npos) << "padding is spaces";
  EXPECT_LT(padding.size(), 8u);
  const auto h = nlohmann::ordered_json::parse(header);
  EXPECT_EQ(h.begin().key(), "__metadata__");
  EXPECT_EQ(h["__metadata__"]["format"], "pt");
  EXPECT_FALSE(h.contains("lm_head.weight")) << "tied head must not be duplicated";
  std::vector<std::string> names;
  uint64_t pos = 0;
  for (auto it = std::next(h.begin()); it != h.end(); ++it) {
    names.push_back(it.key());
    const auto& e = it.value();
    EXPECT_EQ(e["dtype"], "F32") << it.key();
    const auto* info = a.table().find(it.key());
    ASSERT_NE(info, nullptr) << it.key();
    EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), info->shape) << it.key();
    EXPECT_EQ(e["data_offsets"][0].get<uint64_t>(), pos) << it.key();
    pos = e["data_offsets"][1].get<uint64_t>();
    EXPECT_EQ(pos - e["data_offsets"][0].get<uint64_t>(), info->numel * 4) << it.key();
    // the bytes at that offset are the tensor
    EXPECT_EQ(std::memcmp(bytes.data() + 8 + hlen + e["data_offsets"][0].get<uint64_t>(),
                          pa.data() + info->offset, info->numel * 4),
              0)
        << it.key();
  }
  EXPECT_EQ(pos, bytes.size() - 8 - hlen) << "tensors cover the data section exactly";
  EXPECT_EQ(names.size(), a.table().params().size());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(Checkpoint, Bf16RoundTripWithinRounding) {
  TempDir dir;
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  tt::Qwen3Model a(cfg, *be, 1, 8), b(cfg, *be, 1, 8);
  a.init_weights(3);
  tt::save_safetensors(a, dir.path / "m.safetensors", tt::DType::BF16);
  EXPECT_LT(fs::file_size(dir.path / "m.safetensors"), a.table().total() * 2 + 8192);
  tt::load_safetensors(b, dir.path / "m.safetensors");
  const auto pa = a.get_params_f32(), pb = b.get_params_f32();
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pb[i], tt::bf16_to_f32(tt::f32_to_bf16(pa[i]))) << i;
    ASSERT_LE(std::abs(pb[i] - pa[i]), std::abs(pa[i]) * (1.0f / 256)) << i;
  }
  // round to nearest even on exact ties: 1 + 2^-8 is halfway between 1 and 1 + 2^-7
  EXPECT_EQ(tt::bf16_to_f32(tt::f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(tt::bf16_to_f32(tt::f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
}

TEST(Checkpoint, CorruptTruncatedAndMismatchedFilesNameTheProblem) {
  TempDir dir;
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  tt::Qwen3Model a(cfg, *be, 1, 8);
  a.init_weights(4);
  const fs::path good = dir.path / "good.safetensors";
  tt::save_safetensors(a, good);
  const std::vector<float> before = a.get_params_f32();
  const std::string bytes = slurp(good);

  const fs::path trunc = dir.path / "trunc.safetensors";
  spit(trunc, bytes.substr(0, bytes.size() - 100));
  std::string msg = error_of([&] { tt::load_safetensors(a, trunc); });
  EXPECT_NE(msg.find("trunc.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset"), std::string::npos) << msg;

  spit(trunc, bytes.substr(0, 5));
  msg = error_of([&] { tt::load_safetensors(a, trunc); });
  EXPECT_NE(msg.find("too short"), std::string::npos) << msg;

  std::string big = bytes;
  big[7] = char(0x7f);  // absurd header length
  spit(trunc, big);
  msg = error_of([&] { tt::load_safetensors(a, trunc); });
  EXPECT_NE(msg.find("header length"), std::string::npos) << msg;

  std::string badjson = bytes;
  badjson[8] = '#';  // the opening brace
  spit(trunc, badjson);
  msg = error_of([&] { tt::load_safetensors(a, trunc); });
  EXPECT_NE(msg.find("JSON"), std::string::npos) << msg;

  // Wrong shape: a model with another hidden size; the error names the tensor and both shapes.
  auto j = cfg.raw;
  j["intermediate_size"] = 20;
  tt::Qwen3Model other(tt::Qwen3Config::from_json(j, "other"), *be, 1, 8);
  msg = error_of([&] { tt::load_safetensors(other, good); });
  EXPECT_NE(msg.find("mlp.gate_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[20,16]"), std::string::npos) << msg;

  // Fewer layers: an unexpected tensor; more layers: a missing one.
  j = cfg.raw;
  j["num_hidden_layers"] = 1;
  tt::Qwen3Model one(tt::Qwen3Config::from_json(j, "one"), *be, 1, 8);
  msg = error_of([&] { tt::load_safetensors(one, good); });
  EXPECT_NE(msg.find("model.layers.1."), std::string::npos) << msg;
  j["num_hidden_layers"] = 3;
  tt::Qwen3Model three(tt::Qwen3Config::from_json(j, "three"), *be, 1, 8);
  msg = error_of([&] { tt::load_safetensors(three, good); });
  EXPECT_NE(msg.find("model.layers.2."), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  // Offsets that do not match the dtype size: edit one data_offsets end in place (same length).
  std::string edited = bytes;
  const std::string key = "\"model.norm.weight\":{\"dtype\":\"F32\"";
  const size_t at = edited.find(key);
  ASSERT_NE(at, std::string::npos);
  edited.replace(at + key.size() - 4, 3, "I32");
  spit(trunc, edited);
  msg = error_of([&] { tt::load_safetensors(a, trunc); });
  EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;

  EXPECT_NE(
      error_of([&] { tt::load_safetensors(a, dir.path / "absent.safetensors"); }).find("absent.safetensors"),
      std::string::npos);
  // None of the failed loads touched the model; a good load still works.
  EXPECT_EQ(a.get_params_f32(), before);
  tt::load_safetensors(a, good);
  EXPECT_EQ(a.get_params_f32(), before);

  // A shape too large for the file is refused without overflow (dims multiply past 2^64).
  std::string huge = bytes;
  const std::string shape_key = "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[16]";
  const size_t sat = huge.find(shape_key);
  ASSERT_NE(sat, std::string::npos);
  huge.replace(sat + shape_key.size() - 4, 4, "[99]");  // same length keeps the header valid JSON
  spit(trunc, huge);
  msg = error_of([&] { tt::load_safetensors(a, trunc); });
  EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;

  // A NaN in the weights (it loaded, and every output was garbage): refused, naming the tensor and element.
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  const size_t data_at = 8 + header_len + header["model.norm.weight"]["data_offsets"][0].get<size_t>();
  std::string nan = bytes;
  nan.replace(data_at + 4, 4, std::string(4, char(0xFF)));  // element 1
  spit(trunc, nan);
  msg = error_of([&] { tt::load_safetensors(a, trunc); });
  EXPECT_NE(msg.find("trunc.safetensors: tensor \"model.norm.weight\" holds a NaN or infinity at element 1"),
            std::string::npos)
      << msg;
  EXPECT_EQ(a.get_params_f32(), before);
}

TEST(Checkpoint, OptimizerStateGivesExactResume) {
  TempDir dir;
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  const auto tok = some_tokens(2 * 8, cfg.vocab_size);
  tt::AdamWArgs args;
  args.lr = 1e-3f;
  args.weight_decay = 0.1f;
  auto step = [&](tt::Qwen3Model& m, int64_t s) {
    m.zero_grads();
    m.forward_backward(tok.data(), 2, 8, 1.0f / 14);
    args.step = s;
    m.optimizer_step(args);
  };
  tt::Qwen3Model a(cfg, *be, 2, 8);
  a.init_weights(9);
  step(a, 1);
  step(a, 2);
  tt::save_safetensors(a, dir.path / "model.safetensors", tt::DType::BF16);  // lossy on purpose
  tt::save_optimizer_state(a, dir.path / "optimizer.safetensors");
  step(a, 3);
  tt::Qwen3Model b(cfg, *be, 2, 8);
  tt::load_safetensors(b, dir.path / "model.safetensors");
  tt::load_optimizer_state(b, dir.path / "optimizer.safetensors");  // restores fp32 master weights too
  step(b, 3);
  EXPECT_EQ(a.get_params_f32(), b.get_params_f32());
  // names in the optimizer file
  const std::string bytes = slurp(dir.path / "optimizer.safetensors");
  EXPECT_NE(bytes.find("\"exp_avg.model.norm.weight\""), std::string::npos);
  EXPECT_NE(bytes.find("\"exp_avg_sq.model.embed_tokens.weight\""), std::string::npos);
  EXPECT_NE(bytes.find("\"step\":\"2\""), std::string::npos);
  std::string bad_step = bytes;
  bad_step.replace(bad_step.find("\"step\":\"2\""), 10, "\"step\":\"x\"");  // was a bare "stoll"
  spit(dir.path / "bad_step.safetensors", bad_step);
  EXPECT_NE(error_of([&] {
              tt::load_optimizer_state(b, dir.path / "bad_step.safetensors");
            }).find("bad_step.safetensors: metadata \"step\" is \"x\"; expected a non-negative integer"),
            std::string::npos);
  // a model file is not an optimizer file
  EXPECT_NE(error_of([&] {
              tt::load_optimizer_state(b, dir.path / "model.safetensors");
            }).find("unexpected tensor"),
            std::string::npos);
  // a negative second moment (finite, so it loaded, and the resumed run "diverged") is refused
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  const size_t at = 8 + header_len + header["exp_avg_sq.model.norm.weight"]["data_offsets"][0].get<size_t>();
  std::string negative = bytes;
  const float minus_one = -1.0f;
  negative.replace(at + 3 * 4, 4, std::string(reinterpret_cast<const char*>(&minus_one), 4));  // element 3
  spit(dir.path / "negative.safetensors", negative);
  const auto params_before = b.get_params_f32();
  EXPECT_NE(
      error_of([&] { tt::load_optimizer_state(b, dir.path / "negative.safetensors"); })
          .find("negative.safetensors: tensor \"exp_avg_sq.model.norm.weight\" holds the negative value -1 "
                "at element 3"),
      std::string::npos);
  EXPECT_EQ(b.get_params_f32(), params_before);  // nothing was uploaded
}

TEST(Checkpoint, NonFiniteWeightsAndFileDifferencesAreFound) {
  TempDir dir;
  auto be = tt::make_cpu_backend(tt::DType::F32);
  const auto cfg = tiny_config();
  tt::Qwen3Model m(cfg, *be, 1, 8);
  m.init_weights(4);
  EXPECT_FALSE(tt::first_non_finite_weight(m));
  tt::save_safetensors(m, dir.path / "model.safetensors");
  EXPECT_FALSE(tt::first_difference_from_file(m, dir.path / "model.safetensors"));
  std::vector<double> p = m.get_params();
  const tt::ParamInfo& norm = m.table().get("model.norm.weight");
  p[norm.offset + 5] = 0.5;
  m.set_params(p);
  const auto diff = tt::first_difference_from_file(m, dir.path / "model.safetensors");
  ASSERT_TRUE(diff);
  EXPECT_EQ(*diff, "tensor \"model.norm.weight\" element 5: 1 in the file, 0.5 in the model");
  p[norm.offset + 2] = std::numeric_limits<double>::infinity();
  m.set_params(p);
  const auto bad = tt::first_non_finite_weight(m);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->tensor, "model.norm.weight");
  EXPECT_EQ(bad->element, 2);
}

TEST(Checkpoint, HfConfigFilesRoundTrip) {
  TempDir dir;
  const auto cfg = tiny_config();
  tt::write_hf_config_files(cfg, dir.path / "ckpt");
  const auto back = tt::Qwen3Config::load(dir.path / "ckpt" / "config.json");
  EXPECT_EQ(back.vocab_size, cfg.vocab_size);
  EXPECT_EQ(back.head_dim, cfg.head_dim);
  EXPECT_EQ(back.num_key_value_heads, cfg.num_key_value_heads);
  EXPECT_EQ(back.rope_theta, cfg.rope_theta);
  EXPECT_EQ(back.num_parameters(), cfg.num_parameters());
  const auto gen = nlohmann::json::parse(slurp(dir.path / "ckpt" / "generation_config.json"));
  EXPECT_EQ(gen["bos_token_id"], cfg.bos_token_id);
  EXPECT_EQ(gen["eos_token_id"], cfg.eos_token_id);
}

TEST(Checkpoint, ReaderRejectsOverflowingShapesAndGaps) {
  TempDir dir;
  auto make = [&](const std::string& header, size_t data_bytes) {
    std::string h = header;
    h.append((8 - h.size() % 8) % 8, ' ');
    std::string out(8, '\0');
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i, n >>= 8) out[size_t(i)] = char(n & 0xff);
    out += h + std::string(data_bytes, '\1');
    const fs::path p = dir.path / "x.safetensors";
    spit(p, out);
    return p;
  };
  // 2^32 * 2^32 elements would wrap a 64-bit count to 0
  std::string msg = error_of([&] {
    tt::read_safetensors(
        make(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0));
  });
  EXPECT_NE(msg.find("\"x\""), std::string::npos) << msg;
  // a gap between tensors, and trailing bytes after the last one
  msg = error_of([&] {
    tt::read_safetensors(make(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                              12));
  });
  EXPECT_NE(msg.find("gap or overlap"), std::string::npos) << msg;
  msg = error_of(
      [&] { tt::read_safetensors(make(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8)); });
  EXPECT_NE(msg.find("data section"), std::string::npos) << msg;
  msg = error_of(
      [&] { tt::read_safetensors(make(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4)); });
  EXPECT_NE(msg.find("unsupported dtype"), std::string::npos) << msg;
  // a number beyond double range is a JSON out_of_range error, not a parse_error (found by fuzzing)
  msg = error_of([&] {
    tt::read_safetensors(make(R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", 4));
  });
  EXPECT_NE(msg.find("header JSON"), std::string::npos) << msg;
  // invalid JSON names its file offset: the 'x' of {"a":x} is byte 5 of the header, 13 of the file
  msg = error_of([&] { tt::read_safetensors(make(R"({"a":x})", 0)); });
  EXPECT_NE(msg.find("header JSON is invalid at byte offset 13 of 16"), std::string::npos) << msg;
  // a header over the cap is not "past the end of the file"
  {
    std::string big(8, '\0');
    const uint64_t len = uint64_t(150) << 20;
    for (int i = 0; i < 8; ++i) big[size_t(i)] = char((len >> (8 * i)) & 0xff);
    big.resize(size_t(len) + 16, ' ');
    spit(dir.path / "big.safetensors", big);
    msg = error_of([&] { tt::read_safetensors(dir.path / "big.safetensors"); });
    EXPECT_NE(
        msg.find("header length 157286400 at offset 0 is over the 104857600 bytes a safetensors header may "
                 "have"),
        std::string::npos)
        << msg;
    fs::remove(dir.path / "big.safetensors");
  }
  // and a valid one parses
  const auto f = tt::read_safetensors(
      make(R"({"__metadata__":{"k":"v"},"a":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]}})", 4));
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].dtype, tt::DType::BF16);
  EXPECT_EQ(f.metadata.at("k"), "v");
}
