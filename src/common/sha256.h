// SHA-256 through OpenSSL's EVP interface (a well-kept library; nothing hand-rolled).
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace tt {
std::string sha256_hex(std::string_view data);
std::string sha256_hex_file(const std::filesystem::path& path);  // tt::Error names the path
}  // namespace tt
