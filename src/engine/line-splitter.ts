// Cuts a byte stream into text lines without holding unbounded memory: a
// line longer than `maxLine` characters is emitted in pieces. Chunks are
// decoded once (a UTF-8 sequence split across chunks is kept whole) and cut
// on the decoded text; runs of whole lines are handed over as one range of
// that text, so a consumer can look at them all at once.

import { StringDecoder } from "node:string_decoder";

export const MAX_LINE_CHARS = 64 * 1024;

export interface LineSink {
  /**
   * text[start, end) is whole lines, each ending with "\n" (a CR before it
   * belongs to the line ending), none longer than maxLine characters.
   */
  lines(text: string, start: number, end: number): void;
  /** One line without its line ending or, with complete false, a piece of an over-long line. */
  line(line: string, complete: boolean): void;
}

/** A sink that gets every line on its own. */
export function eachLine(onLine: (line: string, complete: boolean) => void): LineSink {
  return {
    lines(text, start, end) {
      while (start < end) {
        const nl = text.indexOf("\n", start);
        onLine(text.slice(start, lineEnd(text, start, nl)), true);
        start = nl + 1;
      }
    },
    line: onLine,
  };
}

/** End of the line that starts at `start` and whose "\n" is at `nl`: before a CR of CRLF. */
export function lineEnd(text: string, start: number, nl: number): number {
  return nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
}

export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";
  private readonly sink: LineSink;

  constructor(
    sink: LineSink | ((line: string, complete: boolean) => void),
    private readonly maxLine: number = MAX_LINE_CHARS,
  ) {
    this.sink = typeof sink === "function" ? eachLine(sink) : sink;
  }

  push(chunk: Buffer): void {
    let text = this.decoder.write(chunk);
    if (text === "") return;
    if (this.pending !== "") {
      text = this.pending + text;
      this.pending = "";
    }
    let start = 0;
    const first = text.indexOf("\n");
    const last = first < 0 ? -1 : text.lastIndexOf("\n");
    if (first >= 0 && first <= this.maxLine && last - first <= this.maxLine) {
      // No line between the first and the last newline can be longer than that: all whole lines at once.
      this.sink.lines(text, 0, last + 1);
      start = last + 1;
    } else {
      let run = 0;
      for (;;) {
        const nl = text.indexOf("\n", start);
        if (nl < 0) break;
        if (nl - start > this.maxLine) {
          if (start > run) this.sink.lines(text, run, start);
          this.emitLine(text, start, nl);
          run = nl + 1;
        }
        start = nl + 1;
      }
      if (start > run) this.sink.lines(text, run, start);
    }
    if (start < text.length) {
      let rest = start === 0 ? text : text.slice(start);
      while (rest.length > this.maxLine) {
        const cut = this.cut(rest, 0);
        this.sink.line(rest.slice(0, cut), false);
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
      this.sink.line(text.slice(start, cut), false);
      start = cut;
    }
    this.sink.line(text.slice(start, lineEnd(text, start, end)), true);
  }

  /** End of a piece starting at `start`: maxLine characters, never between the halves of a surrogate pair. */
  private cut(text: string, start: number): number {
    const cut = start + this.maxLine;
    const c = text.charCodeAt(cut - 1);
    return c >= 0xd800 && c <= 0xdbff ? cut - 1 : cut;
  }
}
