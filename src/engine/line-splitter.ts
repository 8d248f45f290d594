// Cuts a byte stream into text lines without holding unbounded memory: a
// line longer than `maxLine` characters is emitted in pieces. Chunks are
// decoded once (a UTF-8 sequence split across chunks is kept whole) and cut
// on the decoded text.

import { StringDecoder } from "node:string_decoder";

export const MAX_LINE_CHARS = 64 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";

  constructor(
    private readonly onLine: (line: string, complete: boolean) => void,
    private readonly maxLine: number = MAX_LINE_CHARS,
  ) {}

  push(chunk: Buffer): void {
    let text = this.decoder.write(chunk);
    if (text === "") return;
    if (this.pending !== "") {
      text = this.pending + text;
      this.pending = "";
    }
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      this.emitLine(text, start, nl);
      start = nl + 1;
    }
    if (start < text.length) {
      let rest = start === 0 ? text : text.slice(start);
      while (rest.length > this.maxLine) {
        const cut = this.cut(rest, 0);
        this.onLine(rest.slice(0, cut), false);
        rest = rest.slice(cut);
      }
      this.pending = rest;
    }
  }

  /** Emits whatever is buffered (end of the stream). */
  flush(): void {
    const text = this.pending + this.decoder.end();
    this.pending = "";
    if (text !== "") this.emitLine(text, 0, text.length);
  }

  private emitLine(text: string, start: number, end: number): void {
    while (end - start > this.maxLine) {
      const cut = this.cut(text, start);
      this.onLine(text.slice(start, cut), false);
      start = cut;
    }
    if (end > start && text.charCodeAt(end - 1) === 13) end--; // CR of CRLF
    this.onLine(text.slice(start, end), true);
  }

  /** End of a piece starting at `start`: maxLine characters, never between the halves of a surrogate pair. */
  private cut(text: string, start: number): number {
    const cut = start + this.maxLine;
    const c = text.charCodeAt(cut - 1);
    return c >= 0xd800 && c <= 0xdbff ? cut - 1 : cut;
  }
}
