// Source readers: format detection, every format on its fixture, compressed variants (made here
// with the libraries), and bad inputs (missing, empty, binary, truncated, malformed).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/fs.h"
#include "data/document.h"
#include "data/sources.h"
#include "data/wikitext.h"
#include "test_util.h"

using namespace tt::data;
using namespace tt::data::test;

namespace {

struct ReadResult {
  SourceFormat format = SourceFormat::Auto;
  std::vector<std::string> titles, texts;  // kept documents
  std::map<std::string, int64_t> skips;
  std::vector<std::string> warnings;
  int64_t read = 0;
};

ReadResult read_all(const fs::path& path, int64_t min_chars = 40) {
  ReadResult r;
  SkipCounter skips;
  auto reader = DocumentReader::open(path, skips);
  r.format = reader->format();
  RawDocument doc;
  while (reader->next(doc)) {
    ++r.read;
    Extracted e = extract_document(doc, min_chars);
    if (e.skip) {
      skips.add(e.skip);
      continue;
    }
    r.titles.push_back(doc.title);
    r.texts.push_back(e.text);
  }
  r.skips = skips.counts();
  r.warnings = reader->warnings();
  return r;
}

void expect_clean(const std::vector<std::string>& texts) {
  for (const auto& t : texts)
    for (const char* bad : {"{{", "}}", "[[", "]]", "<ref", "{|", "&amp;", "''"})
      EXPECT_FALSE(contains(t, bad)) << "found " << bad << " in: " << t;
}

}  // namespace

TEST(Readers, NewSchemaXml) {
  ReadResult r = read_all(fixture("new_schema.xml"));
  EXPECT_EQ(r.format, SourceFormat::MediaWikiXml);
  EXPECT_EQ(r.read, 7);
  ASSERT_EQ(r.titles, (std::vector<std::string>{"Albedo", "Zebra finch"}));
  EXPECT_EQ(
      r.texts[0],
      "Albedo, or reflection coefficient, is the diffuse reflectivity of a surface. It is measured on a "
      "scale from 0 to 1 — see the albedo page for more H2O data.");
  EXPECT_EQ(
      r.texts[1],
      "The zebra finch (Taeniopygia guttata) is the most common estrildid finch of Central Australia; it "
      "ranges over most of the continent.");
  EXPECT_EQ(r.skips["redirect"], 1);
  EXPECT_EQ(r.skips["namespace"], 1);
  EXPECT_EQ(r.skips["disambiguation"], 2);  // {{disambiguation}} and {{Dab}}
  EXPECT_EQ(r.skips["too_short"], 1);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Readers, OldSchemaXmlWithoutNs) {
  ReadResult r = read_all(fixture("old_schema.xml"));
  EXPECT_EQ(r.format, SourceFormat::MediaWikiXml);
  ASSERT_EQ(r.titles, (std::vector<std::string>{"Anarchism", "ASCII art"}));
  EXPECT_EQ(
      r.texts[0],
      "Anarchism derives from the Greek ἀναρχία (\"without archons\"), and is a political philosophy – or a "
      "group of doctrines.");
  EXPECT_EQ(r.texts[1],
            "ASCII art is a graphic design technique that uses computers for presentation and consists of "
            "pictures.");
  EXPECT_EQ(r.skips["redirect"], 1);   // "#redirect" text, lower case
  EXPECT_EQ(r.skips["namespace"], 2);  // Wikipedia:, Template: titles
  EXPECT_EQ(r.skips["disambiguation"], 1);
}

TEST(Readers, XmlCutMidPageKeepsCompletePages) {
  ReadResult r = read_all(fixture("truncated.xml"));
  EXPECT_EQ(r.read, 2);
  EXPECT_EQ(r.titles, (std::vector<std::string>{"Albedo"}));
  EXPECT_EQ(r.skips["truncated_page"], 1);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "truncated.xml")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[0], "inside the <page>")) << r.warnings[0];
}

TEST(Readers, UnbalancedXmlIsAnErrorWithLine) {
  std::string e = error_of([] { read_all(fixture("unbalanced.xml")); });
  EXPECT_TRUE(contains(e, "unbalanced.xml:7:")) << e;
  EXPECT_TRUE(contains(e, "mismatched tag")) << e;
}

TEST(Readers, XmlWithWrongRootIsAnError) {
  ScratchDir dir;
  auto p = dir.write("other.xml", "<?xml version=\"1.0\"?>\n<rss><page><title>x</title></page></rss>\n");
  std::string e = error_of([&] { read_all(p); });
  EXPECT_TRUE(contains(e, "not a MediaWiki XML export")) << e;
  EXPECT_TRUE(contains(e, "other.xml:2")) << e;
}

TEST(Readers, WikiExtractorPlain) {
  ReadResult r = read_all(fixture("wikiextractor.txt"));
  EXPECT_EQ(r.format, SourceFormat::WikiExtractor);
  ASSERT_EQ(r.titles, (std::vector<std::string>{"Anarchism", "AT&T", "Koknoghin"}));
  EXPECT_EQ(r.texts[0],
            "Anarchism is a political philosophy that advocates stateless societies, often defined as "
            "self-governed voluntary institutions.");
  EXPECT_EQ(r.texts[1],
            "AT&T Inc. is an American multinational telecommunications corporation headquartered in Dallas, "
            "Texas.");
  EXPECT_EQ(r.skips["unterminated_doc"], 1);
  EXPECT_EQ(r.skips["disambiguation"], 1);
}

TEST(Readers, WikiExtractorJson) {
  ReadResult r = read_all(fixture("wikiextractor.json"));
  EXPECT_EQ(r.format, SourceFormat::WikiExtractorJson);
  ASSERT_EQ(r.texts.size(), 2u);
  EXPECT_EQ(r.texts[0], "Anarchism is a political philosophy that advocates stateless societies.");
  EXPECT_EQ(r.texts[1],
            "Autism is a neurodevelopmental disorder characterized by impaired social interaction.");
}

TEST(Readers, JsonLinesWithBadLines) {
  ReadResult r = read_all(fixture("docs.jsonl"));
  EXPECT_EQ(r.format, SourceFormat::JsonLines);
  ASSERT_EQ(r.texts.size(), 2u);
  EXPECT_EQ(r.texts[0],
            "The first JSON document has a paragraph that is long enough. continued on a second line.");
  EXPECT_EQ(r.texts[1], "An untitled JSON document with & an entity and a tag inside it.");
  EXPECT_EQ(r.skips["bad_json_line"], 2);
  EXPECT_EQ(r.skips["json_without_text"], 1);
}

TEST(Readers, PlainTextBlocks) {
  ReadResult r = read_all(fixture("plain.txt"));
  EXPECT_EQ(r.format, SourceFormat::Text);
  ASSERT_EQ(r.texts.size(), 2u);
  EXPECT_EQ(r.texts[0],
            "The first plain text document is this paragraph, which spans two lines of the file.");
  EXPECT_EQ(r.skips["too_short"], 1);
}

TEST(Readers, TsvIntros) {
  ReadResult r = read_all(fixture("intros.tsv"));
  EXPECT_EQ(r.format, SourceFormat::Tsv);
  ASSERT_EQ(r.titles, (std::vector<std::string>{"Koknoghin", "Johan van Hell"}));
  EXPECT_EQ(
      r.texts[1],
      "Johannes \"Johan\" van Hell (February 28, 1889 – December 31, 1952) was a Dutch visual artist and "
      "musician.");
  EXPECT_EQ(r.skips["bad_tsv_line"], 1);
  EXPECT_EQ(r.skips["namespace"], 1);
  EXPECT_EQ(r.skips["disambiguation"], 1);
}

TEST(Readers, CompressedVariantsDetectedByMagicNotName) {
  const std::string xml = tt::read_file(fixture("new_schema.xml"));
  const ReadResult plain = read_all(fixture("new_schema.xml"));
  ScratchDir dir;
  struct Variant {
    const char* name;
    std::string data;
    Compression c;
  };
  std::vector<Variant> variants = {
      {"a.xml.bz2", bzip2(xml), Compression::Bzip2},
      {"b.xml.gz", gzip(xml), Compression::Gzip},
      {"c.xml.xz", xz(xml), Compression::Xz},
      {"d.xml.zst", zstd(xml), Compression::Zstd},
      {"e.xml", xz(xml), Compression::Xz},  // misleading extension
      {"f.bz2", bzip2(xml.substr(0, 1000)) + bzip2(xml.substr(1000)), Compression::Bzip2},  // multistream
      {"g.gz", gzip(xml.substr(0, 700)) + gzip(xml.substr(700)), Compression::Gzip},        // multi-member
      {"h.zst", zstd(xml.substr(0, 500)) + zstd(xml.substr(500)), Compression::Zstd},       // two frames
      {"i.xz", xz(xml.substr(0, 900)) + xz(xml.substr(900)), Compression::Xz},              // two streams
  };
  for (const auto& v : variants) {
    auto p = dir.write(v.name, v.data);
    {
      InputStream in(p);
      EXPECT_EQ(in.compression(), v.c) << v.name;
      std::string all;
      char buf[333];
      for (size_t n; (n = in.read(buf, sizeof buf)) > 0;) all.append(buf, n);
      EXPECT_EQ(all, xml) << v.name;
    }
    ReadResult r = read_all(p);
    EXPECT_EQ(r.texts, plain.texts) << v.name;
  }
}

TEST(Readers, TruncatedCompressedStreamsNameFileAndOffset) {
  const std::string text =
      tt::read_file(fixture("new_schema.xml")) + tt::read_file(fixture("old_schema.xml"));
  ScratchDir dir;
  for (auto [name, data] : std::vector<std::pair<std::string, std::string>>{{"t.xml.bz2", bzip2(text)},
                                                                            {"t.xml.xz", xz(text)},
                                                                            {"t.xml.gz", gzip(text)},
                                                                            {"t.xml.zst", zstd(text)}}) {
    auto p = dir.write(name, data.substr(0, data.size() / 2));
    std::string e = error_of([&] { read_all(p); });
    EXPECT_TRUE(contains(e, name)) << e;
    EXPECT_TRUE(contains(e, "offset")) << e;
    EXPECT_TRUE(contains(e, "truncated") || contains(e, "corrupt")) << e;
  }
  // A corrupted byte in the middle of an xz stream.
  std::string bad = xz(text);
  bad[bad.size() / 2] ^= 0x55;
  auto p = dir.write("corrupt.xz", bad);
  std::string e = error_of([&] { read_all(p); });
  EXPECT_TRUE(contains(e, "corrupt.xz")) << e;
}

TEST(Readers, MissingEmptyAndBinaryFiles) {
  ScratchDir dir;
  std::string e = error_of([&] { read_all(dir.path / "nope.xml"); });
  EXPECT_TRUE(contains(e, "nope.xml") && contains(e, "no such file")) << e;
  e = error_of([&] { read_all(dir.write("empty.txt", "")); });
  EXPECT_TRUE(contains(e, "empty.txt") && contains(e, "empty")) << e;
  e = error_of([&] { read_all(dir.write("empty.gz", gzip(""))); });
  EXPECT_TRUE(contains(e, "empty.gz") && contains(e, "empty")) << e;
  std::mt19937 rng(7);
  std::string noise(100000, '\0');
  for (auto& c : noise) c = char(rng());
  e = error_of([&] { read_all(dir.write("noise.bin", noise)); });
  EXPECT_TRUE(contains(e, "noise.bin") && contains(e, "not UTF-8")) << e;
  using namespace std::string_literals;  // "..."s: the NULs are part of the text
  // the offset of the first bad byte, whichever kind it is (a NUL in valid UTF-8 was reported at offset 0)
  e = error_of([&] { read_all(dir.write("nul.tsv", "1\tTitle\tsome long text\0 more\n"s)); });
  EXPECT_TRUE(contains(e, "nul.tsv") && contains(e, "a NUL byte at decompressed offset 22")) << e;
  e = error_of([&] { read_all(dir.write("bad.tsv", "1\tT\t\xC3(\0\n"s)); });
  EXPECT_TRUE(contains(e, "invalid UTF-8 at decompressed offset 4")) << e;
  e = error_of([&] { read_all(dir.write("nul_first.tsv", "1\tT\t\0\xC3(\n"s)); });
  EXPECT_TRUE(contains(e, "a NUL byte at decompressed offset 4")) << e;
  e = error_of([&] { read_all(dir.path); });
  EXPECT_TRUE(contains(e, "directory")) << e;
}

TEST(Readers, ByteOrderMarkAndCrlf) {
  ScratchDir dir;
  ReadResult r = read_all(dir.write("bom.txt",
                                    "\xEF\xBB\xBF"
                                    "1\tA\tThe first line of this file starts with a byte order mark.\r\n"
                                    "2\tB\tThe second line ends with a Windows line ending as well.\r\n"));
  EXPECT_EQ(r.format, SourceFormat::Tsv);
  ASSERT_EQ(r.texts.size(), 2u);
  EXPECT_EQ(r.titles[0], "A");
  EXPECT_EQ(r.texts[1], "The second line ends with a Windows line ending as well.");
}

TEST(Readers, OverlongLineIsCountedNotLoaded) {
  ScratchDir dir;
  std::string big =
      "{\"text\": \"" + std::string(40u << 20, 'a') + "\"}\n{\"text\": \"" + std::string(50, 'b') + "\"}\n";
  ReadResult r = read_all(dir.write("big.jsonl", big));
  EXPECT_EQ(r.skips["line_too_long"], 1);
  ASSERT_EQ(r.texts.size(), 1u);
  EXPECT_EQ(r.texts[0], std::string(50, 'b'));
}

TEST(Readers, ExpandSourcesWalksDirectories) {
  ScratchDir dir;
  dir.write("b/wiki_01", "x");
  dir.write("b/wiki_00", "x");
  dir.write("a.tsv.xz", "x");
  dir.write("README.md", "x");
  dir.write(".hidden/c.txt", "x");
  dir.write("LICENSE", "x");
  std::vector<std::string> ignored;
  auto files = expand_sources({dir.path.string()}, &ignored);
  std::vector<std::string> names;
  for (auto& f : files) names.push_back(fs::relative(f, dir.path).string());
  EXPECT_EQ(names, (std::vector<std::string>{"a.tsv.xz", "b/wiki_00", "b/wiki_01"}));
  EXPECT_EQ(ignored.size(), 2u);  // README.md and LICENSE (no lower-case letter: not a wiki_NN name)
  std::string e = error_of([&] { expand_sources({(dir.path / "missing").string()}); });
  EXPECT_TRUE(contains(e, "missing")) << e;
}

TEST(Readers, JsonLinesWhoseFirstLineOutrunsTheSniffedHead) {
  // WikiExtractor --json files (named wiki_00, no extension) open with whole long articles: the first
  // line runs past the 64 KiB read to detect the format, and the keys before the cut decide it.
  ScratchDir dir;
  const std::string first =
      "{\"id\": \"12\", \"revid\": \"1\", \"url\": \"https://en.wikipedia.org/wiki?curid=12\", "
      "\"title\": \"Anarchism\", \"text\": \"Anarchism\\n\\n" +
      std::string(100000, 'a') + " is a political philosophy.\"}\n";
  const std::string second =
      "{\"id\": \"25\", \"revid\": \"2\", \"url\": \"https://en.wikipedia.org/wiki?curid=25\", "
      "\"title\": \"Autism\", \"text\": \"Autism\\n\\nAutism is a neurodevelopmental "
      "condition with a paragraph long enough to keep.\"}\n";
  ReadResult r = read_all(dir.write("AA/wiki_00", first + second));
  EXPECT_EQ(r.format, SourceFormat::WikiExtractorJson);
  EXPECT_EQ(r.read, 2);
  EXPECT_EQ(r.titles.back(), "Autism");
  // a generic JSON Lines record the same way; a syntax error before the cut is still not JSON
  EXPECT_EQ(read_all(dir.write("long.jsonl", "{\"text\": \"" + std::string(100000, 'b') + "\"}\n")).format,
            SourceFormat::JsonLines);
  EXPECT_EQ(
      read_all(dir.write("broken", "{\"title\" \"x\", \"text\": \"" + std::string(100000, 'b') + "\"}\n"))
          .format,
      SourceFormat::Text);
}

TEST(Readers, OverlongLineDropsItsDocumentInTextAndWikiExtractor) {
  ScratchDir dir;
  const std::string para = "A paragraph that is long enough to be kept by the cleaner as a document.";
  // plain text: the block holding the cut line is dropped, not kept as its first 32 MiB
  ReadResult t =
      read_all(dir.write("long.txt", para + "\n\n" + std::string(33u << 20, 'x') + "\n\n" + para + "\n"));
  EXPECT_EQ(t.skips["line_too_long"], 1);
  EXPECT_EQ(t.skips.count("document_too_long"), 0u);  // counted once
  EXPECT_EQ(t.texts, (std::vector<std::string>{para, para}));
  // WikiExtractor: a cut first paragraph drops its article
  ReadResult w =
      read_all(dir.write("wiki_00", "<doc id=\"1\" title=\"A\">\nA\n\n" + std::string(33u << 20, 'y') +
                                        "\n</doc>\n<doc id=\"2\" title=\"B\">\nB\n\n" + para + "\n</doc>\n"));
  EXPECT_EQ(w.skips["line_too_long"], 1);
  EXPECT_EQ(w.titles, (std::vector<std::string>{"B"}));
}

TEST(Readers, ExpandSourcesReadsDumpPartsAndSkipsWhatIsNotText) {
  ScratchDir dir;
  // a dump run as the dump cache keeps it: parts named by page range, beside checksums and status
  dir.write("run/enwiki-20160407-pages-articles1.xml-p000000010p000030302.bz2", "x");
  dir.write("run/enwiki-20160407-pages-articles2.xml-p30304p88444.bz2", "x");
  dir.write("run/enwiki-20160407-sha1sums.txt", "x");
  dir.write("run/enwiki-20160407-md5sums.txt", "x");
  dir.write("run/dumpstatus.json", "x");
  dir.write("run/enwiki-20160407-pages-articles1.xml-p1.bz2", "x");  // not a page range
  // a mirrored run also holds the same articles whole and as multistream, and indexes and title lists
  dir.write("run/enwiki-20160407-pages-articles.xml.bz2", "x");
  dir.write("run/enwiki-20160407-pages-articles-multistream1.xml-p10p30302.bz2", "x");
  dir.write("run/enwiki-20160407-all-titles-in-ns0.gz", "x");
  dir.write("run/enwiki-20160407-siteinfo-namespaces.json.gz", "x");
  // prepare-data's output inside the source tree, as --out_dir corpus/prepared leaves it
  dir.write("prepared/meta.json", "{}");
  dir.write("prepared/train.bin", "");
  dir.write("prepared/samples.txt", "x");
  // data kept elsewhere and linked in, and a link back up the tree
  ScratchDir elsewhere;
  elsewhere.write("c.tsv", "x");
  fs::create_directory_symlink(elsewhere.path, dir.path / "linked");
  fs::create_directory_symlink(dir.path, dir.path / "run" / "up");
  std::vector<std::string> ignored;
  auto files = expand_sources({dir.path.string()}, &ignored);
  std::vector<std::string> names;
  for (auto& f : files) names.push_back(f.lexically_relative(dir.path).string());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "linked/c.tsv", "run/enwiki-20160407-pages-articles1.xml-p000000010p000030302.bz2",
                       "run/enwiki-20160407-pages-articles2.xml-p30304p88444.bz2"}));
  const auto ignored_as = [&](const std::string& name, const std::string& why) {
    return std::any_of(ignored.begin(), ignored.end(),
                       [&](const std::string& i) { return contains(i, name) && contains(i, why); });
  };
  EXPECT_TRUE(ignored_as("sha1sums.txt", "checksums")) << ::testing::PrintToString(ignored);
  EXPECT_TRUE(ignored_as("md5sums.txt", "checksums"));
  EXPECT_TRUE(ignored_as("dumpstatus.json", "status"));
  EXPECT_TRUE(ignored_as("articles1.xml-p1.bz2", "not a source file name"));
  EXPECT_TRUE(ignored_as("pages-articles.xml.bz2", "the whole dump, whose parts beside it are read"));
  EXPECT_TRUE(ignored_as("multistream1.xml-p10p30302.bz2", "the multistream copy"));
  EXPECT_TRUE(ignored_as("all-titles-in-ns0.gz", "not its article text"));
  EXPECT_TRUE(ignored_as("siteinfo-namespaces.json.gz", "not its article text"));
  EXPECT_TRUE(ignored_as("prepared", "prepare-data output"));
  EXPECT_TRUE(ignored_as("up", "already read"));
  // One copy of each run's articles, whatever copies a mirror holds: the plain whole file beside multistream
  // parts (was: both skipped, "no source files"); multistream parts beside their whole file. Files named like
  // a run that hold text are read: pages-meta-current, a user's own.
  ScratchDir mirror;
  mirror.write("a/enwiki-20240601-pages-articles.xml", "x");
  mirror.write("a/enwiki-20240601-pages-articles-multistream1.xml-p1p41242", "x");
  mirror.write("b/enwiki-20240601-pages-articles-multistream.xml.bz2", "x");
  mirror.write("b/enwiki-20240601-pages-articles-multistream1.xml-p1p41242.bz2", "x");
  mirror.write("c/enwiki-20240601-pages-meta-current.xml", "x");
  mirror.write("c/mywiki-20240101-notes.tsv", "x");
  mirror.write("c/enwiki-20240601-pages-articles-multistream-index.txt.bz2", "x");
  names.clear();
  for (auto& f : expand_sources({mirror.path.string()}))
    names.push_back(f.lexically_relative(mirror.path).string());
  EXPECT_EQ(names, (std::vector<std::string>{"a/enwiki-20240601-pages-articles.xml",
                                             "b/enwiki-20240601-pages-articles-multistream1.xml-p1p41242.bz2",
                                             "c/enwiki-20240601-pages-meta-current.xml",
                                             "c/mywiki-20240101-notes.tsv"}));
  // a directory left with nothing says what it skipped
  ScratchDir only_index;
  only_index.write("enwiki-20240601-all-titles-in-ns0.gz", "x");
  const std::string none = error_of([&] { expand_sources({only_index.path.string()}); });
  EXPECT_TRUE(contains(none, "holds no source files") && contains(none, "skipped") &&
              contains(none, "all-titles-in-ns0.gz"))
      << none;
  // prepare-data's output named as the source itself is refused, not read as text
  std::string e = error_of([&] { expand_sources({(dir.path / "prepared").string()}); });
  EXPECT_TRUE(contains(e, "prepare-data's output")) << e;
}

// ---- the real files in shared/data ---------------------------------------------------------

TEST(ReadersShared, Xml206PagesAndTables) {
  for (const char* name :
       {"enwiki-2016-pages-articles1-shortened-206pages.xml.xz", "enwiki-table-markup-5pages.xml.xz"}) {
    if (!fs::exists(shared(name))) GTEST_SKIP() << "shared data not present: " << shared(name);
    ReadResult r = read_all(shared(name));
    SCOPED_TRACE(name);
    expect_clean(r.texts);
    for (const auto& t : r.texts) {
      EXPECT_FALSE(is_redirect_text(t));
      EXPECT_GE(t.size(), 40u);
      EXPECT_EQ(t, tt::data::normalize_whitespace(t));
    }
    if (r.read == 206) {
      EXPECT_GE(r.skips["redirect"], 99);  // 100 redirects, one of them outside the main namespace
      EXPECT_GE(r.texts.size(), 90u);
      EXPECT_EQ(r.titles[0], "Anarchism");
      EXPECT_EQ(r.texts[0].rfind("Anarchism is a political philosophy", 0), 0u) << r.texts[0];
    } else {
      EXPECT_EQ(r.read, 5);
      EXPECT_EQ(r.texts.size(), 5u);
    }
  }
}

TEST(ReadersShared, Enwik8PrefixTruncatedOldSchema) {
  const auto p = shared("enwik8-prefix-4154064B.xml.xz");
  if (!fs::exists(p)) GTEST_SKIP() << "shared data not present: " << p;
  ReadResult r = read_all(p);
  EXPECT_EQ(r.read, 491);
  EXPECT_GE(r.skips["redirect"], 240);
  EXPECT_GE(r.texts.size(), 200u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "without </mediawiki>"));
  expect_clean(r.texts);
}
