#include "dist/communicator.h"

#include "common/check.h"

namespace tt::dist {

void SingleProcess::abort(const std::string& message) {
  TT_FAIL() << message;
}

void check_same_on_every_rank(Communicator& comm, const nlohmann::ordered_json& mine) {
  std::vector<nlohmann::ordered_json> ranks;
  for (const std::string& s : comm.all_gather(mine.dump(), "the start-up check that all ranks run alike"))
    ranks.push_back(nlohmann::ordered_json::parse(s));
  std::string diffs;
  for (const auto& [name, value] : ranks[0].items()) {
    std::string others;
    for (size_t r = 1; r < ranks.size(); ++r) {
      const auto it = ranks[r].find(name);
      const std::string theirs = it == ranks[r].end() ? "(none)" : it->dump();
      if (theirs != value.dump()) others += ", " + theirs + " on rank " + std::to_string(r);
    }
    if (!others.empty()) diffs += "\n  " + name + ": " + value.dump() + " on rank 0" + others;
  }
  TT_CHECK(diffs.empty()) << "the ranks were not started alike (every rank must run the same command on the "
                             "same data with the same build):"
                          << diffs;
}

#ifndef TT_HAVE_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(Communicator&, Backend&, double) {
  TT_FAIL() << "this build has no CUDA backend, so no NCCL";
}
#endif

}  // namespace tt::dist
