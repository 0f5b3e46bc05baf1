// Wikitext -> plain text, hand-written (there is no maintained C++ library for wikitext; the
// reference parsers are PHP/Parsoid (JS) or Python mwparserfromhell). We need only the lead
// paragraph of an article, as readable prose, so this is a small set of linear-time passes
// rather than a full parser:
//   1. HTML comments; 2. templates {{...}} (nested, multi-line; matched with one stack pass;
//      a few sentence-level ones such as {{convert}}, {{lang}}, {{birth date}} render their text);
//   3. tables {| ... |} (at line starts, nested); 4. tags: <ref>...</ref>, <ref .../>, <math>,
//      <gallery>, ... dropped with their content; <b> <i> <span> <sub> <sup> ... dropped, text kept;
//      <br> -> space; unknown "<x" text kept (MediaWiki only treats whitelisted names as tags);
//   5. lead = text before the first "== heading ==" line; list/indent lines (* # : ;) dropped;
//      paragraphs = blocks separated by blank lines; the first non-empty cleaned one wins;
//   6. per paragraph: [[File:/Image:/Category:/interlanguage]] removed (with nested links in
//      captions); [[target|label]] -> label, [[target]] -> target; [url label] -> label; ''/'''
//      dropped; __MAGIC__ words dropped; HTML entities decoded (named + numeric); whitespace
//      normalised; tidy: empty "()", "( ,", "(; ", space before punctuation, doubled spaces.
// Every pass is O(n) in the input (bracket matching uses a stack, tag-close searches are
// memoised), so hostile input (fuzzing, "{{{{{{...") cannot make it quadratic or recurse deeply.
#pragma once

#include <string>
#include <string_view>

namespace tt::data {

// The cleaned first paragraph of an article's lead section; "" if there is none.
std::string wikitext_lead_paragraph(std::string_view page);

// Cleans a fragment of wikitext (all passes, no paragraph selection; newlines become spaces).
std::string clean_wikitext(std::string_view text);

// For sources that are already mostly plain text (WikiExtractor, JSONL, text, TSV): removes stray
// tags, comments, templates and link brackets, decodes entities (twice: WikiExtractor output is
// sometimes double-escaped), normalises whitespace and tidies. Does not touch apostrophes.
std::string clean_plain_text(std::string_view text);

// Individual passes (exposed for tests and the fuzzer).
std::string remove_comments(std::string_view s);
std::string remove_templates(std::string_view s);  // {{...}}, nested; unmatched braces dropped
// Like remove_templates, but the few templates whose output is part of a sentence render their
// text: {{convert|5|km}} -> "5 km", {{lang|fr|mot}} / {{lang-fr|mot}} -> "mot", {{nowrap|x}} -> "x",
// {{birth date|1950|1|2}} -> "January 2, 1950", {{frac|1|2}} -> "1/2", {{circa|1900}}, {{as of|2010}}.
std::string expand_templates(std::string_view s);
std::string remove_tables(std::string_view s);  // {| ... |} at line starts; unclosed: to the end
std::string strip_tags(std::string_view s);     // see pass 4 above
std::string resolve_links(std::string_view s);  // [[...]] and [url label]
std::string decode_html_entities(std::string_view s);
std::string normalize_whitespace(std::string_view s);  // one line, single spaces, trimmed
std::string tidy_text(std::string_view s);             // expects normalised text

// Page classification.
bool is_redirect_text(std::string_view text);             // "#REDIRECT" (any case) at the start
bool has_disambiguation_template(std::string_view page);  // {{disambiguation}}, {{dab}}, {{hndis}}, ...
bool looks_like_disambiguation_intro(std::string_view paragraph);  // "... may refer to:"
bool title_has_namespace_prefix(std::string_view title);           // "Talk:", "File:", "User talk:", ...

}  // namespace tt::data
