// Exactness against the independent JS reference (tools/js-reference): our ids must equal the
// golden ids for every case, and decode(encode(x)) must give back normalize(x) (= NFC(x) per
// section between added tokens, with invalid UTF-8 replaced).
#include <gtest/gtest.h>

#include "common/sha256.h"
#include "test_util.h"

namespace tt::test {
namespace {

std::string show_ids(const std::vector<int32_t>& ids, size_t max = 40) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size() && i < max; ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  if (ids.size() > max) s += ",...(" + std::to_string(ids.size()) + ")";
  return s + "]";
}

TEST(Golden, FileMatchesTokenizer) {
  nlohmann::json meta;
  auto cases = load_golden(&meta);
  EXPECT_EQ(meta["tokenizer_sha256"].get<std::string>(), qwen().sha256());
  EXPECT_EQ(meta["cases"].get<size_t>(), cases.size());
  EXPECT_GT(cases.size(), 1000u);
}

TEST(Golden, IdsEqualReference) {
  auto cases = load_golden();
  size_t checked = 0, wiki_missing = 0, mismatches = 0;
  for (const auto& c : cases) {
    if (!c.available) {
      ++wiki_missing;
      continue;
    }
    auto ids = qwen().encode(c.text);
    if (ids != c.ids) {
      ++mismatches;
      ADD_FAILURE() << c.name << ": got " << show_ids(ids) << " want " << show_ids(c.ids);
      if (mismatches > 20) break;
    }
    ++checked;
  }
  if (wiki_missing)
    std::cerr << "note: " << wiki_missing << " Wikipedia cases skipped (no " << TT_SHARED_DATA_DIR << ")\n";
  std::cerr << "checked " << checked << " golden cases\n";
  EXPECT_GT(checked, 400u);
}

TEST(Golden, BatchEqualsReference) {
  auto cases = load_golden();
  std::vector<std::string> texts;
  std::vector<const GoldenCase*> ref;
  for (const auto& c : cases)
    if (c.available) {
      texts.push_back(c.text);
      ref.push_back(&c);
    }
  auto out = qwen().encode_batch(texts, 4);
  ASSERT_EQ(out.size(), texts.size());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], ref[i]->ids) << ref[i]->name;
}

TEST(Golden, RoundTrip) {
  for (const auto& c : load_golden()) {
    if (!c.available) continue;
    EXPECT_EQ(qwen().decode(qwen().encode(c.text)), qwen().normalize(c.text)) << c.name;
    EXPECT_EQ(qwen().decode(c.ids), qwen().normalize(c.text)) << c.name;
  }
}

}  // namespace
}  // namespace tt::test
