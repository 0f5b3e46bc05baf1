// A Wikimedia dump mirror on the loopback test server, made from a real MediaWiki XML dump (the shared
// 206-page excerpt of enwiki pages-articles1): /enwiki/ lists run 20990201 (article job in progress)
// and run 20990101 (done), whose articlesdump job has the dump split into two bzip2 parts, with the
// real sizes, SHA-1s and MD5s in its dumpstatus.json and sha1sums.txt.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http_test_server.h"
#include "net/digest.h"
#include "test_util.h"

namespace tt::data::test {

struct MirrorPart {
  std::string name, data;
};

inline std::string hex_of(net::Digest::Kind kind, const std::string& data) {
  net::Digest d(kind);
  d.update(data.data(), data.size());
  return d.hex();
}

// The dump as two complete MediaWiki documents: the first `first_pages` pages, and the rest.
inline std::vector<std::string> split_dump(const std::string& xml, size_t first_pages) {
  const size_t first = xml.find("  <page>");
  const std::string header = xml.substr(0, first), footer = "</mediawiki>\n";
  size_t cut = first;
  for (size_t i = 0; i < first_pages; ++i) cut = xml.find("</page>\n", cut) + 8;
  const size_t end = xml.rfind("</mediawiki>");
  return {header + xml.substr(first, cut - first) + footer, header + xml.substr(cut, end - cut) + footer};
}

inline std::vector<MirrorPart> serve_fake_mirror(TestHttpServer& server, const std::string& xml,
                                                 const std::string& bad_sha1_for_part1 = "") {
  const std::vector<std::string> docs = split_dump(xml, 100);
  std::vector<MirrorPart> parts = {{"enwiki-20990101-pages-articles1.xml-p1p12000.bz2", bzip2(docs[0])},
                                   {"enwiki-20990101-pages-articles2.xml-p12001p30302.bz2", bzip2(docs[1])}};
  nlohmann::json files = nlohmann::json::object();
  std::string sums;
  for (const auto& p : parts) {
    const std::string sha1 = hex_of(net::Digest::Kind::Sha1, p.data);
    files[p.name] = {
        {"size", p.data.size()},
        {"url", "/enwiki/20990101/" + p.name},
        {"md5", hex_of(net::Digest::Kind::Md5, p.data)},
        {"sha1", p.name == parts[0].name && !bad_sha1_for_part1.empty() ? bad_sha1_for_part1 : sha1}};
    if (bad_sha1_for_part1.empty()) sums += sha1 + "  " + p.name + "\n";
    server.route("/enwiki/20990101/" + p.name, Route{.body = p.data});
  }
  const nlohmann::json done = {{"jobs", {{"articlesdump", {{"status", "done"}, {"files", files}}}}},
                               {"version", "0.8"}};
  const nlohmann::json running = {{"jobs", {{"articlesdump", {{"status", "in-progress"}}}}},
                                  {"version", "0.8"}};
  server.route("/enwiki/",
               Route{.body = "<html><body><pre><a href=\"../\">../</a>\n<a href=\"20990101/\">20990101/</a>\n"
                             "<a href=\"20990201/\">20990201/</a>\n<a href=\"latest/\">latest/</a>\n"
                             "</pre></body></html>\n",
                     .content_type = "text/html"});
  server.route("/enwiki/20990201/dumpstatus.json",
               Route{.body = running.dump(), .content_type = "application/json"});
  server.route("/enwiki/20990101/dumpstatus.json",
               Route{.body = done.dump(2), .content_type = "application/json"});
  server.route("/enwiki/20990101/enwiki-20990101-sha1sums.txt",
               Route{.body = sums, .content_type = "text/plain"});
  return parts;
}

}  // namespace tt::data::test
