#include "data/input_stream.h"

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "common/check.h"

namespace tt::data {

namespace {
constexpr size_t kRawBuf = 256 << 10;
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::None:
      return "none";
    case Compression::Bzip2:
      return "bzip2";
    case Compression::Gzip:
      return "gzip";
    case Compression::Xz:
      return "xz";
    case Compression::Zstd:
      return "zstd";
  }
  return "?";
}

Compression detect_compression(const unsigned char* h, size_t n) {
  if (n >= 4 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h' && h[3] >= '1' && h[3] <= '9')
    return Compression::Bzip2;
  if (n >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8) return Compression::Gzip;
  if (n >= 6 && h[0] == 0xfd && h[1] == '7' && h[2] == 'z' && h[3] == 'X' && h[4] == 'Z' && h[5] == 0)
    return Compression::Xz;
  if (n >= 4 && h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd) return Compression::Zstd;
  return Compression::None;
}

struct InputStream::Decoder {
  bz_stream bz{};
  bool bz_init = false;
  z_stream gz{};
  bool gz_init = false;
  lzma_stream xz = LZMA_STREAM_INIT;
  bool xz_init = false;
  ZSTD_DCtx* zstd = nullptr;
  size_t zstd_last = 0;    // last ZSTD_decompressStream result: 0 = at a frame boundary
  bool in_stream = false;  // bzip2/gzip: inside a stream/member (false at a clean boundary)

  ~Decoder() {
    if (bz_init) BZ2_bzDecompressEnd(&bz);
    if (gz_init) inflateEnd(&gz);
    if (xz_init) lzma_end(&xz);
    if (zstd) ZSTD_freeDCtx(zstd);
  }
};

FileSource::FileSource(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  TT_CHECK(std::filesystem::exists(path, ec)) << path.string() << ": no such file";
  TT_CHECK(!std::filesystem::is_directory(path, ec)) << path.string() << ": is a directory, expected a file";
  f_ = std::fopen(path.c_str(), "rb");
  TT_CHECK(f_) << path.string() << ": cannot open for reading: " << std::strerror(errno);
  size_ = std::filesystem::file_size(path, ec);
  if (ec) size_ = 0;
}

FileSource::~FileSource() {
  if (f_) std::fclose(f_);
}

size_t FileSource::read(unsigned char* out, size_t cap) {
  const size_t n = std::fread(out, 1, cap, f_);
  TT_CHECK(n == cap || !std::ferror(f_))
      << path_.string() << ": read error at offset " << offset_ + n << ": " << std::strerror(errno);
  offset_ += n;
  return n;
}

InputStream::InputStream(const std::filesystem::path& path)
    : InputStream(std::make_unique<FileSource>(path), path.string(), path) {}

InputStream::InputStream(std::unique_ptr<ByteSource> source, std::string name, std::filesystem::path path)
    : path_(std::move(path)),
      name_(std::move(name)),
      source_(std::move(source)),
      raw_(new unsigned char[kRawBuf]),
      dec_(new Decoder) {
  init_decoder();
}

void InputStream::init_decoder() {
  fill();
  compression_ = detect_compression(raw_.get(), raw_len_);
  switch (compression_) {
    case Compression::None:
      break;
    case Compression::Bzip2:
      break;  // initialised per stream in read()
    case Compression::Gzip:
      break;
    case Compression::Xz: {
      lzma_ret r = lzma_stream_decoder(&dec_->xz, UINT64_MAX, LZMA_CONCATENATED);
      TT_CHECK(r == LZMA_OK) << name_ << ": cannot initialise the xz decoder (" << int(r) << ")";
      dec_->xz_init = true;
      break;
    }
    case Compression::Zstd:
      dec_->zstd = ZSTD_createDCtx();
      TT_CHECK(dec_->zstd) << name_ << ": cannot initialise the zstd decoder";
      break;
  }
}

InputStream::~InputStream() = default;

bool InputStream::fill() {
  if (raw_pos_ < raw_len_) return true;
  if (eof_) return false;
  raw_pos_ = 0;
  // A short read is not the end (a download delivers what has arrived); only 0 is.
  raw_len_ = source_->read(raw_.get(), kRawBuf);
  if (raw_len_ == 0) eof_ = true;
  raw_read_ += raw_len_;
  return raw_len_ > 0;
}

std::string_view InputStream::peek(size_t n) {
  while (peeked_.size() < n) {
    size_t old = peeked_.size();
    peeked_.resize(n);
    size_t got = decode(peeked_.data() + old, n - old);
    peeked_.resize(old + got);
    if (got == 0) break;
  }
  return std::string_view(peeked_).substr(peeked_pos_, std::min(n, peeked_.size()) - peeked_pos_);
}

size_t InputStream::read(char* out, size_t cap) {
  if (peeked_pos_ < peeked_.size()) {
    size_t k = std::min(cap, peeked_.size() - peeked_pos_);
    std::memcpy(out, peeked_.data() + peeked_pos_, k);
    peeked_pos_ += k;
    if (peeked_pos_ == peeked_.size()) {
      peeked_.clear();
      peeked_.shrink_to_fit();
      peeked_pos_ = 0;
    }
    return k;
  }
  return decode(out, cap);
}

size_t InputStream::decode(char* out, size_t cap) {
  if (done_ || cap == 0) return 0;
  Decoder& d = *dec_;
  size_t produced = 0;
  auto truncated = [&](const char* what) {
    TT_FAIL() << name_ << ": " << what << " " << compression_name(compression_)
              << " data at compressed offset " << raw_consumed_ << " of " << file_size() << " bytes (after "
              << out_total_ << " decompressed bytes)"
              << hint("the file is truncated or damaged; download it again");
  };
  while (produced == 0) {
    bool have = fill();
    unsigned char* in = raw_.get() + raw_pos_;
    size_t avail = raw_len_ - raw_pos_;
    switch (compression_) {
      case Compression::None: {
        if (!have) {
          done_ = true;
          return 0;
        }
        size_t n = std::min(cap, avail);
        std::memcpy(out, in, n);
        raw_pos_ += n;
        raw_consumed_ += n;
        produced = n;
        break;
      }
      case Compression::Bzip2: {
        if (!have) {
          if (d.in_stream) truncated("truncated");
          done_ = true;
          return 0;
        }
        if (!d.in_stream) {
          // A new stream must start with "BZh"; anything else after a complete stream is junk.
          if (detect_compression(in, avail) != Compression::Bzip2 && avail >= 4)
            truncated("trailing garbage after");
          if (d.bz_init) BZ2_bzDecompressEnd(&d.bz);
          d.bz = bz_stream{};
          TT_CHECK(BZ2_bzDecompressInit(&d.bz, 0, 0) == BZ_OK) << name_ << ": bzip2 init failed";
          d.bz_init = true;
          d.in_stream = true;
        }
        d.bz.next_in = reinterpret_cast<char*>(in);
        d.bz.avail_in = unsigned(avail);
        d.bz.next_out = out;
        d.bz.avail_out = unsigned(cap);
        int r = BZ2_bzDecompress(&d.bz);
        size_t used = avail - d.bz.avail_in;
        raw_pos_ += used;
        raw_consumed_ += used;
        produced = cap - d.bz.avail_out;
        if (r == BZ_STREAM_END) {
          d.in_stream = false;
        } else if (r != BZ_OK) {
          truncated("corrupt");
        }
        break;
      }
      case Compression::Gzip: {
        if (!have) {
          if (d.in_stream) truncated("truncated");
          done_ = true;
          return 0;
        }
        if (!d.in_stream) {
          if (avail >= 2 && !(in[0] == 0x1f && in[1] == 0x8b)) truncated("trailing garbage after");
          if (d.gz_init) inflateEnd(&d.gz);
          d.gz = z_stream{};
          TT_CHECK(inflateInit2(&d.gz, 15 + 16) == Z_OK) << name_ << ": zlib init failed";
          d.gz_init = true;
          d.in_stream = true;
        }
        d.gz.next_in = in;
        d.gz.avail_in = unsigned(avail);
        d.gz.next_out = reinterpret_cast<unsigned char*>(out);
        d.gz.avail_out = unsigned(cap);
        int r = inflate(&d.gz, Z_NO_FLUSH);
        size_t used = avail - d.gz.avail_in;
        raw_pos_ += used;
        raw_consumed_ += used;
        produced = cap - d.gz.avail_out;
        if (r == Z_STREAM_END) {
          d.in_stream = false;
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
          truncated("corrupt");
        }
        break;
      }
      case Compression::Xz: {
        d.xz.next_in = in;
        d.xz.avail_in = avail;
        d.xz.next_out = reinterpret_cast<uint8_t*>(out);
        d.xz.avail_out = cap;
        lzma_ret r = lzma_code(&d.xz, have ? LZMA_RUN : LZMA_FINISH);
        size_t used = avail - d.xz.avail_in;
        raw_pos_ += used;
        raw_consumed_ += used;
        produced = cap - d.xz.avail_out;
        if (r == LZMA_STREAM_END) {
          done_ = true;
          out_total_ += produced;
          return produced;
        } else if (r == LZMA_BUF_ERROR && !have) {
          truncated("truncated");
        } else if (r != LZMA_OK) {
          truncated(r == LZMA_DATA_ERROR || r == LZMA_FORMAT_ERROR ? "corrupt" : "undecodable");
        }
        if (!have && produced == 0 && r == LZMA_OK) truncated("truncated");
        break;
      }
      case Compression::Zstd: {
        if (!have) {
          if (d.zstd_last != 0) truncated("truncated");
          done_ = true;
          return 0;
        }
        ZSTD_inBuffer ib{in, avail, 0};
        ZSTD_outBuffer ob{out, cap, 0};
        size_t r = ZSTD_decompressStream(d.zstd, &ob, &ib);
        if (ZSTD_isError(r)) truncated("corrupt");
        d.zstd_last = r;
        raw_pos_ += ib.pos;
        raw_consumed_ += ib.pos;
        produced = ob.pos;
        break;
      }
    }
  }
  out_total_ += produced;
  return produced;
}

LineReader::LineReader(InputStream& in, size_t max_line)
    : in_(in), max_line_(max_line), buf_(new char[1 << 20]) {}

bool LineReader::refill() {
  if (eof_) return false;
  len_ = in_.read(buf_.get(), 1 << 20);
  pos_ = 0;
  if (len_ == 0) eof_ = true;
  return len_ > 0;
}

bool LineReader::next(std::string& line) {
  line.clear();
  cut_ = false;
  bool any = false;
  for (;;) {
    if (pos_ >= len_ && !refill()) break;
    any = true;
    const char* start = buf_.get() + pos_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
    size_t n = nl ? size_t(nl - start) : len_ - pos_;
    if (!cut_) {
      size_t room = max_line_ - line.size();
      if (n > room) {
        line.append(start, room);
        cut_ = true;
      } else {
        line.append(start, n);
      }
    }
    pos_ += n;
    if (nl) {
      ++pos_;
      break;
    }
  }
  if (!any) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_no_ == 0 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // UTF-8 byte order mark
  ++line_no_;
  return true;
}

}  // namespace tt::data
