// Helpers shared by the data tests: fixture paths, scratch directories, compression helpers.
#pragma once

#include <bzlib.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>

#include "common/check.h"
#include "common/fs.h"

namespace tt::data::test {

namespace fs = std::filesystem;

inline fs::path fixture(const std::string& name) {
  return fs::path(TT_SOURCE_DIR) / "tests/fixtures/data" / name;
}
inline fs::path shared(const std::string& name) {
  return fs::path(TT_SHARED_DATA_DIR) / name;
}

// A fresh scratch directory, removed when the object goes away.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::random_device rd;
    path =
        fs::temp_directory_path() / ("tt_data_test." + std::to_string(getpid()) + "." + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::string& data) const {
    fs::path p = path / name;
    fs::create_directories(p.parent_path());
    tt::write_file_atomic(p, data);
    return p;
  }
};

inline std::string bzip2(const std::string& in) {
  unsigned int cap = unsigned(in.size() + in.size() / 100 + 1024);
  std::string out(cap, '\0');
  if (BZ2_bzBuffToBuffCompress(out.data(), &cap, const_cast<char*>(in.data()), unsigned(in.size()), 9, 0,
                               0) != BZ_OK)
    throw std::runtime_error("bzip2 failed");
  out.resize(cap);
  return out;
}

inline std::string gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip");
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = unsigned(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = unsigned(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("gzip");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string xz(const std::string& in) {
  std::string out(lzma_stream_buffer_bound(in.size()), '\0');
  size_t pos = 0;
  if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const uint8_t*>(in.data()),
                              in.size(), reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()) != LZMA_OK)
    throw std::runtime_error("xz");
  out.resize(pos);
  return out;
}

inline std::string zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) throw std::runtime_error("zstd");
  out.resize(n);
  return out;
}

// The message of the tt::Error that f throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tt::Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace tt::data::test
