#include "net/digest.h"

#include <openssl/evp.h>

#include "common/check.h"

namespace tt::net {

struct Digest::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Digest::Digest(Kind kind) : kind_(kind), ctx_(new Ctx) {
  ctx_->md = EVP_MD_CTX_new();
  TT_ASSERT(ctx_->md) << "EVP_MD_CTX_new failed";
  reset();
}

Digest::~Digest() = default;

void Digest::reset() {
  TT_ASSERT(EVP_DigestInit_ex(ctx_->md, kind_ == Kind::Sha1 ? EVP_sha1() : EVP_md5(), nullptr) == 1)
      << "EVP_DigestInit_ex failed";
}

void Digest::update(const void* data, size_t n) {
  TT_ASSERT(EVP_DigestUpdate(ctx_->md, data, n) == 1) << "EVP_DigestUpdate failed";
}

std::string Digest::hex() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  TT_ASSERT(copy && EVP_MD_CTX_copy_ex(copy, ctx_->md) == 1) << "EVP_MD_CTX_copy_ex failed";
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const int ok = EVP_DigestFinal_ex(copy, out, &len);
  EVP_MD_CTX_free(copy);
  TT_ASSERT(ok == 1) << "EVP_DigestFinal_ex failed";
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < len; ++i) {
    s.push_back(kHex[out[i] >> 4]);
    s.push_back(kHex[out[i] & 15]);
  }
  return s;
}

}  // namespace tt::net
