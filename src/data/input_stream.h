// A file read as a stream of decompressed bytes, whatever its compression. The bytes come from a
// ByteSource: a local file, or a download in progress (data/source_list.h), so every reader and
// decoder works the same on both.
//
// Compression is detected from the first bytes (magic numbers), not the extension:
//   bzip2 "BZh" (multistream / pbzip2 files: streams are decoded one after another),
//   gzip 1f 8b (multi-member), xz fd 37 7a 58 5a 00 (concatenated streams), zstd 28 b5 2f fd
//   (concatenated frames); anything else is passed through unchanged.
// Decoding uses libbz2 / zlib / liblzma / libzstd. A stream that ends early (truncated download)
// or is corrupt raises tt::Error naming the file, the compression and the compressed byte offset.
// Memory: fixed buffers (256 KiB in, caller's buffer out), whatever the file size.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace tt::data {

enum class Compression { None, Bzip2, Gzip, Xz, Zstd };
const char* compression_name(Compression c);

// Detects the compression from the first bytes of a file.
Compression detect_compression(const unsigned char* head, size_t n);

// Where an InputStream's raw (compressed) bytes come from.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Up to `cap` bytes; 0 only at the end. tt::Error on a read or transfer error.
  virtual size_t read(unsigned char* out, size_t cap) = 0;
  // Total size in bytes when known (for progress and messages), else 0.
  virtual uint64_t size() const = 0;
};

// A local file as a ByteSource; tt::Error naming the path if it is missing, a directory or unreadable.
class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::filesystem::path& path);
  ~FileSource() override;
  size_t read(unsigned char* out, size_t cap) override;
  uint64_t size() const override { return size_; }

 private:
  std::filesystem::path path_;
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0, offset_ = 0;
};

class InputStream {
 public:
  // A local file. tt::Error if the file cannot be opened.
  explicit InputStream(const std::filesystem::path& path);
  // Any byte source. `name` is what messages call it (a path or a URL); `path` is the file name used
  // for format detection (its extension breaks ties) and by path().
  InputStream(std::unique_ptr<ByteSource> source, std::string name, std::filesystem::path path);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Reads up to `cap` decompressed bytes; returns 0 only at the end of the data.
  size_t read(char* out, size_t cap);
  // The first up-to-`n` decompressed bytes, without consuming them (for format sniffing).
  std::string_view peek(size_t n);

  Compression compression() const { return compression_; }
  const std::filesystem::path& path() const { return path_; }
  const std::string& name() const { return name_; }       // for messages: the path, or the URL
  uint64_t file_size() const { return source_->size(); }  // 0 while unknown (a download before its headers)
  // Bytes of the (compressed) file consumed so far: for progress and error offsets.
  uint64_t compressed_offset() const { return raw_consumed_; }
  // Decompressed bytes returned so far.
  uint64_t decompressed_offset() const { return out_total_; }

  struct Decoder;  // per-compression state (implementation detail)

 private:
  void init_decoder();
  bool fill();  // refills the raw buffer; false at end of file
  size_t decode(char* out, size_t cap);

  std::string peeked_;
  size_t peeked_pos_ = 0;
  std::filesystem::path path_;
  std::string name_;
  std::unique_ptr<ByteSource> source_;
  Compression compression_ = Compression::None;
  std::unique_ptr<unsigned char[]> raw_;
  size_t raw_pos_ = 0, raw_len_ = 0;
  uint64_t raw_read_ = 0;      // bytes read from the file
  uint64_t raw_consumed_ = 0;  // bytes handed to the decoder
  uint64_t out_total_ = 0;
  bool eof_ = false;
  bool done_ = false;
  std::unique_ptr<Decoder> dec_;
};

// Line reader on top of an InputStream: lines without their "\n" (a trailing "\r" is dropped, and
// a UTF-8 byte order mark at the start of the first line).
// Lines longer than `max_line` bytes are cut: the rest up to the newline is discarded and
// `line_was_cut()` is true for that line (so one damaged line cannot use unbounded memory).
class LineReader {
 public:
  explicit LineReader(InputStream& in, size_t max_line = 64u << 20);
  bool next(std::string& line);
  int64_t line_number() const { return line_no_; }  // 1-based number of the last line returned
  bool line_was_cut() const { return cut_; }

 private:
  bool refill();
  InputStream& in_;
  size_t max_line_;
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  int64_t line_no_ = 0;
  bool cut_ = false;
};

}  // namespace tt::data
