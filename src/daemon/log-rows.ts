// What Forgejo can store and show as one log row: valid UTF-8, no line
// breaks at the end, and short enough for the server's 64 KiB line reader
// (which also holds the row's timestamp prefix).

/** Content bytes per row; leaves room for the stored timestamp prefix within 64 KiB. */
export const MAX_ROW_BYTES = 64 * 1024 - 128;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const NEEDS_WORK = /[\uD800-\uDFFF\r\n]/;

/** Turns one logical line into the rows to upload (usually exactly one). */
export function sanitizeRows(line: string, maxBytes: number = MAX_ROW_BYTES): string[] {
  // The common line: no surrogate, no line break, short enough whatever its characters.
  if (line.length * 3 <= maxBytes && !NEEDS_WORK.test(line)) return [line];
  const clean = line.replace(LONE_SURROGATE, "?");
  const out: string[] = [];
  for (const piece of clean.split("\n")) {
    const trimmed = piece.replace(/[\r\n]+$/, "");
    for (const chunk of splitByBytes(trimmed, maxBytes)) out.push(chunk);
  }
  // "a\n" yields ["a", ""]: the empty tail is the line terminator, not a row.
  if (out.length > 1 && out[out.length - 1] === "" && /\n[\r]*$/.test(clean)) out.pop();
  return out;
}

function splitByBytes(s: string, maxBytes: number): string[] {
  if (Buffer.byteLength(s, "utf8") <= maxBytes) return [s];
  const out: string[] = [];
  let start = 0;
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) {
      out.push(s.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
    i += units;
  }
  out.push(s.slice(start));
  return out;
}
