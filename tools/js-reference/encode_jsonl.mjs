// Reads JSON lines {"text": "..."} from stdin (or a file argument) and writes one JSON array of
// ids per line to stdout. With --time, prints {"seconds": s, "bytes": n} to stderr for the
// encode loop only (used by bench/tokenizer).
import fs from "node:fs";
import { encode, reference } from "./reference.mjs";

const args = process.argv.slice(2);
const timeIt = args.includes("--time");
const file = args.find((a) => !a.startsWith("--"));
const input = fs.readFileSync(file ?? 0, "utf8");
const texts = input.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l).text);
reference();
const t0 = process.hrtime.bigint();
const out = texts.map((t) => JSON.stringify(encode(t)));
const t1 = process.hrtime.bigint();
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
if (timeIt) {
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, "utf8"), 0);
  process.stderr.write(JSON.stringify({ seconds: Number(t1 - t0) / 1e9, bytes }) + "\n");
}
