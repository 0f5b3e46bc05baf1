// Incremental SHA-1 / MD5 through OpenSSL's EVP interface, for checking downloads against the
// checksums a Wikimedia dump index publishes (nothing hand-rolled).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace tt::net {

class Digest {
 public:
  enum class Kind { Sha1, Md5 };
  explicit Digest(Kind kind);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(const void* data, size_t n);
  // Lower-case hex of everything passed to update() so far; the digest can go on afterwards.
  std::string hex() const;
  void reset();
  Kind kind() const { return kind_; }
  const char* name() const { return kind_ == Kind::Sha1 ? "sha1" : "md5"; }

 private:
  Kind kind_;
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace tt::net
