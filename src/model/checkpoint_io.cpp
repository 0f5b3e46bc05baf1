#include "model/checkpoint_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "common/check.h"
#include "model/dtype.h"
#include "model/safetensors.h"

namespace tt {

namespace {

std::vector<char> download(Backend& be, Tensor t) {
  std::vector<char> host(t.bytes());
  be.copy_to_host(host.data(), t);
  return host;
}

// The index of the first NaN or infinity among the n values of `dtype` at p, else -1.
int64_t first_non_finite(const char* p, DType dtype, size_t n) {
  const auto first = [n](const auto* v) {
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(double(v[i]))) return int64_t(i);
    return int64_t{-1};
  };
  if (dtype == DType::F64) return first(reinterpret_cast<const double*>(p));
  if (dtype == DType::F32) return first(reinterpret_cast<const float*>(p));
  TT_ASSERT(dtype == DType::BF16) << "no finiteness check for " << dtype_name(dtype);
  const auto* bits = reinterpret_cast<const uint16_t*>(p);  // bf16: an all-ones exponent
  for (size_t i = 0; i < n; ++i)
    if ((bits[i] & 0x7F80u) == 0x7F80u) return int64_t(i);
  return -1;
}

// The entry of tensor prefix + p.name, checked for presence, shape and dtype.
const SafetensorsEntry& table_entry(const SafetensorsFile& f, const std::string& prefix, const ParamInfo& p) {
  const std::string name = prefix + p.name;
  const SafetensorsEntry* e = f.find(name);
  TT_CHECK(e) << f.path.string() << ": tensor \"" << name << "\" is missing";
  TT_CHECK(e->shape == p.shape) << f.path.string() << ": tensor \"" << name << "\" has shape "
                                << nlohmann::json(e->shape).dump() << ", the model expects "
                                << nlohmann::json(p.shape).dump();
  TT_CHECK(e->dtype == DType::F32 || e->dtype == DType::BF16 || e->dtype == DType::F64)
      << f.path.string() << ": tensor \"" << name << "\" has dtype " << dtype_name(e->dtype)
      << "; expected F32, BF16 or F64";
  return *e;
}

// Reads tensors named prefix + table name into a host buffer of `dtype` laid out like the table,
// checking presence, shape and dtype. Nothing is uploaded, so a failure leaves the model untouched.
std::vector<char> read_table(const ParamTable& table, const SafetensorsFile& f, const std::string& prefix,
                             DType dtype) {
  std::vector<char> raw, host(table.total() * dtype_size(dtype));
  for (const ParamInfo& p : table.params()) {
    const std::string name = prefix + p.name;
    const SafetensorsEntry* e = &table_entry(f, prefix, p);
    raw.resize(e->end - e->begin);
    f.read(*e, raw.data());
    char* values = host.data() + p.offset * dtype_size(dtype);
    convert_host(values, dtype, raw.data(), e->dtype, p.numel);
    // A NaN or infinity loads fine and then turns every output into garbage (sample printed "!!!", eval a
    // null loss, a resumed run "diverged"): refuse it here, where the file and tensor can be named.
    const int64_t bad = first_non_finite(values, dtype, p.numel);
    TT_CHECK(bad < 0) << f.path.string() << ": tensor \"" << name << "\" holds a NaN or infinity at element "
                      << bad << hint("the file is damaged, or was saved by a run that diverged");
  }
  return host;
}

}  // namespace

HostWeights download_master_weights(Qwen3Model& model) {
  const Tensor master = model.master_weights();
  return {master.dtype, download(model.backend(), master)};
}

void save_safetensors(const ParamTable& table, const HostWeights& weights, const std::filesystem::path& file,
                      DType dtype) {
  TT_CHECK(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F64)
      << "safetensors checkpoints are F32, BF16 or F64, not " << dtype_name(dtype);
  TT_ASSERT(weights.bytes.size() == table.total() * dtype_size(weights.dtype))
      << "host weights of " << weights.bytes.size() << " bytes for a table of " << table.total() << " values";
  std::vector<char> data(table.total() * dtype_size(dtype));
  convert_host(data.data(), dtype, weights.bytes.data(), weights.dtype, table.total());
  std::vector<SafetensorsTensor> ts;
  for (const ParamInfo& p : table.params())
    ts.push_back({p.name, dtype, p.shape, data.data() + p.offset * dtype_size(dtype)});
  write_safetensors(file, std::move(ts), {{"format", "pt"}});
}

void save_safetensors(Qwen3Model& model, const std::filesystem::path& file, DType dtype) {
  save_safetensors(model.table(), download_master_weights(model), file, dtype);
}

static void check_safetensors_tensors(const ParamTable& table, const SafetensorsFile& f) {
  for (const auto& e : f.tensors)
    TT_CHECK(table.find(e.name)) << f.path.string() << ": unexpected tensor \"" << e.name
                                 << "\" (not part of a tied-embedding Qwen3 of this config)";
  for (const ParamInfo& p : table.params()) table_entry(f, "", p);
}

void check_safetensors_tensors(const Qwen3Config& cfg, const std::filesystem::path& file) {
  check_safetensors_tensors(ParamTable(cfg), read_safetensors(file));
}

void load_safetensors(Qwen3Model& model, const std::filesystem::path& file) {
  const SafetensorsFile f = read_safetensors(file);
  check_safetensors_tensors(model.table(), f);
  const Tensor master = model.master_weights();
  const std::vector<char> host = read_table(model.table(), f, "", master.dtype);
  model.backend().copy_from_host(master, host.data());
  model.refresh_compute_weights();
}

void save_optimizer_state(Qwen3Model& model, const std::filesystem::path& file) {
  Backend& be = model.backend();
  const DType md = model.master_weights().dtype;
  const std::vector<char> master = download(be, model.master_weights()), m = download(be, model.exp_avg()),
                          v = download(be, model.exp_avg_sq());
  std::vector<SafetensorsTensor> ts;
  for (const ParamInfo& p : model.table().params()) {
    const size_t off = p.offset * dtype_size(md);
    ts.push_back({"master." + p.name, md, p.shape, master.data() + off});
    ts.push_back({"exp_avg." + p.name, md, p.shape, m.data() + off});
    ts.push_back({"exp_avg_sq." + p.name, md, p.shape, v.data() + off});
  }
  write_safetensors(file, std::move(ts),
                    {{"format", "pt"},
                     {"step", std::to_string(model.optimizer_step_count())},
                     {"master_dtype", dtype_name(md)}});
}

void load_optimizer_state(Qwen3Model& model, const std::filesystem::path& file) {
  const SafetensorsFile f = read_safetensors(file);
  const ParamTable& table = model.table();
  for (const auto& e : f.tensors) {
    const auto dot = e.name.find('.');
    const std::string kind = e.name.substr(0, dot),
                      rest = dot == std::string::npos ? "" : e.name.substr(dot + 1);
    TT_CHECK((kind == "master" || kind == "exp_avg" || kind == "exp_avg_sq") && table.find(rest))
        << file.string() << ": unexpected tensor \"" << e.name << "\" in an optimizer state file";
  }
  const Tensor master = model.master_weights(), m = model.exp_avg(), v = model.exp_avg_sq();
  const std::vector<char> master_host = read_table(table, f, "master.", master.dtype);
  const std::vector<char> m_host = read_table(table, f, "exp_avg.", m.dtype);
  const std::vector<char> v_host = read_table(table, f, "exp_avg_sq.", v.dtype);
  for (const ParamInfo& p : table.params()) {
    std::vector<double> values(p.numel);
    convert_host(values.data(), DType::F64, v_host.data() + p.offset * dtype_size(v.dtype), v.dtype, p.numel);
    const auto negative = std::find_if(values.begin(), values.end(), [](double x) { return x < 0; });
    TT_CHECK(negative == values.end())
        << file.string() << ": tensor \"exp_avg_sq." << p.name << "\" holds the negative value " << *negative
        << " at element " << (negative - values.begin()) << "; a sum of squares cannot be negative"
        << hint("the file is damaged: resume from another checkpoint, or start a new run");
  }
  Backend& be = model.backend();
  be.copy_from_host(master, master_host.data());
  be.copy_from_host(m, m_host.data());
  be.copy_from_host(v, v_host.data());
  model.refresh_compute_weights();
  if (auto it = f.metadata.find("step"); it != f.metadata.end()) {
    int64_t step = -1;
    const std::string& text = it->second;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), step);
    TT_CHECK(ec == std::errc() && end == text.data() + text.size() && step >= 0)
        << file.string() << ": metadata \"step\" is \"" << text << "\"; expected a non-negative integer";
    model.set_optimizer_step_count(step);
  }
}

std::optional<NonFiniteWeight> first_non_finite_weight(const ParamTable& table, const HostWeights& weights) {
  for (const ParamInfo& p : table.params()) {
    const int64_t bad =
        first_non_finite(weights.bytes.data() + p.offset * dtype_size(weights.dtype), weights.dtype, p.numel);
    if (bad >= 0) return NonFiniteWeight{p.name, bad};
  }
  return std::nullopt;
}

std::optional<NonFiniteWeight> first_non_finite_weight(Qwen3Model& model) {
  return first_non_finite_weight(model.table(), download_master_weights(model));
}

std::optional<std::string> first_difference_from_file(Qwen3Model& model, const std::filesystem::path& file) {
  const SafetensorsFile f = read_safetensors(file);
  const HostWeights master = download_master_weights(model);
  for (const ParamInfo& p : model.table().params()) {
    const SafetensorsEntry* e = &table_entry(f, "", p);
    std::vector<char> raw(e->end - e->begin);
    f.read(*e, raw.data());
    // both sides as the file stores them, then as double for the comparison and the message
    std::vector<char> rounded(p.numel * dtype_size(e->dtype));
    convert_host(rounded.data(), e->dtype, master.bytes.data() + p.offset * dtype_size(master.dtype),
                 master.dtype, p.numel);
    std::vector<double> in_file(p.numel), in_model(p.numel);
    convert_host(in_file.data(), DType::F64, raw.data(), e->dtype, p.numel);
    convert_host(in_model.data(), DType::F64, rounded.data(), e->dtype, p.numel);
    for (size_t i = 0; i < p.numel; ++i)
      if (in_file[i] != in_model[i]) {
        std::ostringstream os;
        os << std::setprecision(17) << "tensor \"" << p.name << "\" element " << i << ": " << in_file[i]
           << " in the file, " << in_model[i] << " in the model";
        return os.str();
      }
  }
  return std::nullopt;
}

}  // namespace tt
