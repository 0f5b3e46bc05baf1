#include "data/interrupt.h"

#include "common/fs.h"

namespace tt::data {

int remove_stale_temp_dirs(const std::filesystem::path& final_dir) {
  if (final_dir.filename().empty()) return 0;
  return tt::remove_stale_temp_dirs(final_dir.parent_path(), final_dir.filename().string());
}

}  // namespace tt::data
