#include "model/safetensors.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/fs.h"
#include "common/json_error.h"

namespace tt {

namespace {
// The reference implementation's cap on the header (huggingface/safetensors: 100 MB); ours, 100 MiB.
constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;
}  // namespace

bool dtype_from_name(const std::string& s, DType* out) {
  for (DType d : {DType::F32, DType::F64, DType::BF16, DType::I32})
    if (s == dtype_name(d)) {
      *out = d;
      return true;
    }
  return false;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const auto& e : tensors)
    if (e.name == name) return &e;
  return nullptr;
}

void SafetensorsFile::read(const SafetensorsEntry& e, void* dst) const {
  std::ifstream in(path, std::ios::binary);
  TT_CHECK(in) << path.string() << ": cannot open for reading";
  in.seekg(std::streamoff(data_start + e.begin));
  in.read(static_cast<char*>(dst), std::streamsize(e.end - e.begin));
  TT_CHECK(in && uint64_t(in.gcount()) == e.end - e.begin)
      << path.string() << ": tensor \"" << e.name << "\": could not read " << (e.end - e.begin)
      << " bytes at offset " << (data_start + e.begin) << " (file truncated?)";
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  using json = nlohmann::json;
  SafetensorsFile f;
  f.path = path;
  const std::string p = path.string();
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  TT_CHECK(!ec) << p << ": cannot read: " << ec.message();
  TT_CHECK(file_size >= 8) << p << ": file is " << file_size
                           << " bytes, too short for a safetensors header length at offset 0";
  std::ifstream in(path, std::ios::binary);
  TT_CHECK(in) << p << ": cannot open for reading";
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  TT_CHECK(in) << p << ": cannot read the header length at offset 0";
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  TT_CHECK(header_len <= file_size - 8)
      << p << ": header length " << header_len << " at offset 0 runs past the end of the " << file_size
      << "-byte file (truncated or not a safetensors file)";
  TT_CHECK(header_len <= kMaxHeaderBytes)
      << p << ": header length " << header_len << " at offset 0 is over the " << kMaxHeaderBytes
      << " bytes a safetensors header may have (damaged or not a safetensors file)";
  std::string header(header_len, '\0');
  in.read(header.data(), std::streamsize(header_len));
  TT_CHECK(in) << p << ": cannot read the " << header_len << "-byte header at offset 8";
  f.data_start = 8 + header_len;
  const uint64_t data_size = file_size - f.data_start;

  json h;
  try {
    h = json::parse(header);
  } catch (const json::parse_error& e) {
    TT_FAIL() << p << ": header JSON is invalid at " << json_error_position(e, header.size(), 8) << ": "
              << e.what();
  } catch (const json::exception& e) {  // e.g. out_of_range for a number beyond double (found by fuzzing)
    TT_FAIL() << p << ": header JSON at offset 8 cannot be read: " << e.what();
  }
  TT_CHECK(h.is_object()) << p << ": header at offset 8 is not a JSON object";
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      TT_CHECK(v.is_object()) << p << ": \"__metadata__\" must be an object of strings";
      for (auto m = v.begin(); m != v.end(); ++m) {
        TT_CHECK(m.value().is_string())
            << p << ": \"__metadata__\" value of \"" << m.key() << "\" is not a string";
        f.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = p + ": tensor \"" + name + "\"";
    TT_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"))
        << where << ": header entry needs \"dtype\", \"shape\" and \"data_offsets\"";
    SafetensorsEntry e;
    e.name = name;
    TT_CHECK(v["dtype"].is_string() && dtype_from_name(v["dtype"].get<std::string>(), &e.dtype))
        << where << ": unsupported dtype " << v["dtype"].dump() << " (expected F32, F64, BF16 or I32)";
    TT_CHECK(v["shape"].is_array()) << where << ": \"shape\" is not an array";
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      TT_CHECK(d.is_number_unsigned()) << where << ": bad shape " << v["shape"].dump();
      const uint64_t dim = d.get<uint64_t>();
      // a shape larger than the whole data section cannot be valid (and must not overflow)
      TT_CHECK(dim <= data_size && (dim == 0 || numel <= data_size / dim))
          << where << ": shape " << v["shape"].dump() << " is larger than the " << data_size
          << "-byte data section";
      e.shape.push_back(int64_t(dim));
      numel *= dim;
    }
    const json& off = v["data_offsets"];
    TT_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned())
        << where << ": \"data_offsets\" must be [begin, end], got " << off.dump();
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    TT_CHECK(e.begin <= e.end && e.end <= data_size)
        << where << ": data_offsets [" << e.begin << ", " << e.end << "] (file offsets "
        << f.data_start + e.begin << ".." << f.data_start + e.end << ") lie outside the " << data_size
        << "-byte data section (truncated file?)";
    TT_CHECK(e.end - e.begin == numel * dtype_size(e.dtype))
        << where << ": data_offsets [" << e.begin << ", " << e.end << "] hold " << (e.end - e.begin)
        << " bytes but shape " << v["shape"].dump() << " of " << dtype_name(e.dtype) << " needs "
        << numel * dtype_size(e.dtype);
    f.tensors.push_back(std::move(e));
  }
  // The data section must be covered exactly: no gaps, no overlaps, nothing after the last tensor.
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : f.tensors) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  uint64_t pos = 0;
  for (const auto* e : order) {
    TT_CHECK(e->begin == pos) << p << ": tensor \"" << e->name << "\" starts at data offset " << e->begin
                              << " but the previous tensor ends at " << pos << " (gap or overlap)";
    pos = e->end;
  }
  TT_CHECK(pos == data_size) << p << ": tensors cover " << pos
                             << " bytes of data but the data section at offset " << f.data_start << " is "
                             << data_size << " bytes";
  return f;
}

void write_safetensors(const std::filesystem::path& path, std::vector<SafetensorsTensor> tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    if (dtype_size(a.dtype) != dtype_size(b.dtype)) return dtype_size(a.dtype) > dtype_size(b.dtype);
    return a.name < b.name;
  });
  nlohmann::ordered_json h;
  if (!metadata.empty()) {
    h["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) h["__metadata__"][k] = v;
  }
  uint64_t pos = 0;
  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    const uint64_t bytes = numel * dtype_size(t.dtype);
    nlohmann::ordered_json e;
    e["dtype"] = dtype_name(t.dtype);
    e["shape"] = t.shape;
    e["data_offsets"] = {pos, pos + bytes};
    TT_ASSERT(!h.contains(t.name)) << "duplicate tensor name " << t.name;
    h[t.name] = e;
    pos += bytes;
    sizes.push_back(bytes);
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  unsigned char len_bytes[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) len_bytes[i] = uint8_t(n & 0xff);
  AtomicFile out(path);
  out.write(len_bytes, 8);
  out.write(header);
  for (size_t i = 0; i < tensors.size(); ++i) out.write(tensors[i].data, sizes[i]);
  out.commit();
}

}  // namespace tt
