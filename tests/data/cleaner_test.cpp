// Wikitext cleaner: each markup construct in isolation, then whole lead paragraphs.
#include <gtest/gtest.h>

#include <string>

#include "common/fs.h"
#include "data/wikitext.h"

using namespace tt::data;

TEST(Cleaner, TemplatesNestedAndMultiLine) {
  EXPECT_EQ(remove_templates("a{{b|{{c|d}}|e}}f"), "af");
  EXPECT_EQ(remove_templates("x {{Infobox\n| a = {{y|\n{{z}}\n}}\n\n| b = 2\n}}\ny"), "x \ny");
  EXPECT_EQ(remove_templates("keep {{unclosed and text"), "keep unclosed and text");
  EXPECT_EQ(remove_templates("stray }} close"), "stray  close");
  EXPECT_EQ(clean_wikitext("Born {{birth place|x}} in {{city}}."), "Born in.");
}

TEST(Cleaner, SentenceTemplatesRenderText) {
  EXPECT_EQ(clean_wikitext("It lies {{convert|5|km|mi}} south of {{lang|pl|Przeworsk}}."),
            "It lies 5 km south of Przeworsk.");
  EXPECT_EQ(clean_wikitext("{{convert|5|to|10|km|abbr=on}} and {{cvt|3|-|4|m}}"), "5 to 10 km and 3–4 m");
  EXPECT_EQ(clean_wikitext("Born {{birth date and age|1950|1|2}} ({{Birth date|1950|1|2|df=y}})"),
            "Born January 2, 1950 (2 January 1950)");
  EXPECT_EQ(
      clean_wikitext("{{lang-fr|la mer}}, {{nowrap|[[New York|NY]] City}}, {{frac|1|2}}, {{circa|1900}}"),
      "la mer, NY City, 1/2, c. 1900");
  EXPECT_EQ(clean_wikitext("{{as of|2010|5}} it was {{audio|x.ogg|Speer}}."), "As of May 2010 it was Speer.");
  // Nested or unknown templates still render as nothing.
  EXPECT_EQ(clean_wikitext("a {{convert|{{#expr:2*3}}|km}} b {{Infobox|name=x}} c"), "a b c");
  EXPECT_EQ(remove_templates("{{convert|5|km}}"), "");
}

TEST(Cleaner, TablesAtLineStartNested) {
  EXPECT_EQ(remove_tables("a\n{| class=x\n|-\n|\n {|\n| inner\n |}\n|}\nb"), "a\n\nb");
  EXPECT_EQ(remove_tables("not {| a table |} here"), "not {| a table |} here");
  EXPECT_EQ(remove_tables("a\n{|\n| never closed\nrest"), "a\n");
}

TEST(Cleaner, RefsCommentsAndTags) {
  EXPECT_EQ(strip_tags("x<ref name=\"a\">{{cite}} text</ref>y"), "xy");
  EXPECT_EQ(strip_tags("x<ref name=a />y<REF>z</REF>w"), "xyw");
  EXPECT_EQ(strip_tags("a<ref>unclosed ref text"), "aunclosed ref text");
  EXPECT_EQ(strip_tags("<b>bold</b> <i>it</i> <span style=\"c\">s</span> H<sub>2</sub>O x<sup>2</sup>"),
            "bold it s H2O x2");
  EXPECT_EQ(strip_tags("line<br/>break<br>x"), "line break x");
  EXPECT_EQ(strip_tags("a < b and c<d"), "a < b and c<d");
  EXPECT_EQ(strip_tags("<math>x^2</math>y"), "y");
  EXPECT_EQ(remove_comments("a<!-- c\n\nc -->b<!-- unclosed"), "ab");
}

TEST(Cleaner, Links) {
  EXPECT_EQ(resolve_links("[[Paris|the capital]] and [[London]]s"), "the capital and Londons");
  EXPECT_EQ(resolve_links("a[[File:X.jpg|thumb|A [[nested]] [[caption|link]]]]b"), "ab");
  EXPECT_EQ(resolve_links("a[[Image:X.png]]b[[Category:Optics]]c[[de:Albedo]]d"), "abcd");
  EXPECT_EQ(resolve_links("[[:Category:Optics]]"), "Category:Optics");
  EXPECT_EQ(resolve_links("[[Mercury (planet)|]]"), "Mercury");
  EXPECT_EQ(resolve_links("see [http://example.org the site] or [https://x.org] [1]"),
            "see the site or  [1]");
  EXPECT_EQ(resolve_links("unmatched [[link and ]] stray"), "unmatched link and  stray");
  EXPECT_EQ(resolve_links("[[wikt:foo|foo]]"), "foo");
}

TEST(Cleaner, MalformedLinksLeakNoSyntax) {
  // enwik8 ("Alfons Maria Jakob"): "[[" closed by a single "]", and a stray "]" later.
  EXPECT_EQ(resolve_links("was a [[Germany|German]- Jewish] [[neurologist]]."),
            "was a German- Jewish neurologist.");
  EXPECT_EQ(resolve_links("a [[Paris] b"), "a Paris b");
  EXPECT_EQ(resolve_links("a [[x|y|label] b"), "a label b");
  EXPECT_EQ(resolve_links("open [[target|label to the end"), "open label to the end");
  EXPECT_EQ(resolve_links("[[a [[b|c]] d"), "a c d");
  EXPECT_EQ(resolve_links("[[a|b]]] and x]"), "b and x");  // "]" that closes no "[" is dropped
  EXPECT_EQ(resolve_links("a [sic] and [1] stay"), "a [sic] and [1] stay");
  // Inside a link's label, an unclosed "[[" ends at the enclosing "]]".
  EXPECT_EQ(resolve_links("[[A|b [[c|d e]] f"), "b d e f");
  // Hostile: many unclosed "[[" each with a pipe stays linear and leaks no syntax.
  std::string many;
  for (int i = 0; i < 100000; ++i) many += "[[t|l";
  std::string out = resolve_links(many);
  EXPECT_EQ(out.find('|'), std::string::npos);
  EXPECT_TRUE(out == std::string(100000, 'l')) << out.substr(0, 80);
}

TEST(Cleaner, MalformedLinksFixture) {
  const std::string page =
      tt::read_file(std::string(TT_SOURCE_DIR) + "/tests/fixtures/data/malformed_links.wiki");
  const std::string lead = wikitext_lead_paragraph(page);
  EXPECT_EQ(
      lead,
      "Alfons Maria Jakob (July 2, 1884 \u2013 October 17, 1931) was a German- Jewish neurologist. He worked "
      "on "
      "brain pathology and described Creutzfeldt-Jakob disease with Hans Gerhard Creutzfeldt. A broken label "
      "to the line end and a stray pair, an unclosed Berlin, a lone bracket, a [sic] note and a label too.");
  for (const char* bad : {"|", "[[", "]]", "Germany"}) EXPECT_EQ(lead.find(bad), std::string::npos) << bad;
}

TEST(Cleaner, Entities) {
  EXPECT_EQ(decode_html_entities("a&amp;b &lt;x&gt; &quot;q&quot; &eacute; &#233; &#xE9; &mdash;"),
            "a&b <x> \"q\" é é é —");
  EXPECT_EQ(decode_html_entities("&unknown; &#xD800; &#0; & alone &amp"),
            "&unknown; &#xD800; &#0; & alone &amp");
  EXPECT_EQ(clean_plain_text("AT&amp;amp;T"), "AT&T");  // double-escaped WikiExtractor text
}

TEST(Cleaner, WhitespaceAndTidy) {
  EXPECT_EQ(normalize_whitespace("  a\t b\n\nc\xC2\xA0"
                                 "d \x01 "),
            "a b c d");
  EXPECT_EQ(tidy_text("Albedo () is"), "Albedo is");
  EXPECT_EQ(tidy_text("Paris (, born 1950) was"), "Paris (born 1950) was");
  EXPECT_EQ(tidy_text("Ares (; Greek: Arēs) is"), "Ares (Greek: Arēs) is");
  EXPECT_EQ(tidy_text("lies south-west of Przeworsk , and . Done ."),
            "lies south-west of Przeworsk, and. Done.");
  EXPECT_EQ(tidy_text("It is ( , ) here."), "It is here.");
  EXPECT_EQ(tidy_text("uses .NET and a ,b"), "uses .NET and a ,b");
  EXPECT_EQ(tidy_text("Foo (born 1950, )."), "Foo (born 1950).");
}

TEST(Cleaner, ApostrophesOnlyInWikitext) {
  EXPECT_EQ(clean_wikitext("'''Bold''' and ''italic'' and '''''both''''' don't"),
            "Bold and italic and both don't");
  EXPECT_EQ(clean_plain_text("don't ''x''"), "don't ''x''");
}

TEST(Cleaner, LeadParagraph) {
  const std::string page =
      "{{Infobox\n| a = b\n\n| c = d\n}}\n"
      ":''For other uses, see [[X (disambiguation)]].''\n"
      "[[File:A.jpg|thumb|Caption]]\n"
      "'''X''' is a [[thing|test]] ({{IPA|x}}) in [[Z]].<ref>r</ref> __NOTOC__\n"
      "It continues here.\n\n"
      "Second paragraph.\n"
      "== History ==\nNot lead.";
  EXPECT_EQ(wikitext_lead_paragraph(page), "X is a test in Z. It continues here.");
  EXPECT_EQ(wikitext_lead_paragraph("== Only ==\ntext after a heading"), "");
  EXPECT_EQ(wikitext_lead_paragraph("{{a}}\n\n{{b}}\n\nFirst real one.\n\nSecond."), "First real one.");
  EXPECT_EQ(wikitext_lead_paragraph("'''M''' may refer to:\n* [[A]]\n* [[B]]"), "M may refer to:");
}

TEST(Cleaner, Classification) {
  EXPECT_TRUE(is_redirect_text("#REDIRECT [[X]]"));
  EXPECT_TRUE(is_redirect_text("  #redirect[[X]]"));
  EXPECT_TRUE(is_redirect_text("#Redirect [[X]]"));
  EXPECT_FALSE(is_redirect_text("A #REDIRECT in the middle"));
  for (const char* t :
       {"{{disambiguation}}", "{{Disambig}}", "{{dab}}", "{{hndis|name=X}}", "{{geodis}}",
        "{{ disambiguation | cleanup }}", "{{Place name disambiguation}}", "{{Template:Dab}}"})
    EXPECT_TRUE(has_disambiguation_template(std::string("text\n") + t)) << t;
  for (const char* t : {"{{Infobox}}", "{{dablink}}", "{{about|x}}", "no template"})
    EXPECT_FALSE(has_disambiguation_template(t)) << t;
  EXPECT_TRUE(looks_like_disambiguation_intro("Mercury may refer to:"));
  EXPECT_TRUE(looks_like_disambiguation_intro("ABC may also refer to:"));
  EXPECT_FALSE(looks_like_disambiguation_intro("Mercury is a planet."));
  for (const char* t :
       {"Talk:X", "User talk:X", "Wikipedia:X", "File:X", "Image:X", "Template:X", "Category:X", "Portal:X",
        "Help:X", "User:X", "MediaWiki:X", "Module:X", "Draft:X", "Template talk:X"})
    EXPECT_TRUE(title_has_namespace_prefix(t)) << t;
  for (const char* t : {"Star Wars: A New Hope", "Albedo", "Re:Zero", "Help!"})
    EXPECT_FALSE(title_has_namespace_prefix(t)) << t;
}

TEST(Cleaner, HostileInputStaysLinear) {
  // Each pass is linear; quadratic behaviour here would blow the test's time limit by far.
  std::string s;
  for (int i = 0; i < 100000; ++i) s += "{{[[<ref>&#x";
  std::string out = wikitext_lead_paragraph(s);
  EXPECT_EQ(out.find("{{"), std::string::npos);
  std::string deep(200000, '[');
  deep += std::string(200000, ']');
  EXPECT_EQ(resolve_links(deep), "");
  std::string braces(300000, '{');
  EXPECT_EQ(clean_wikitext(braces).find("{{"), std::string::npos);
}
