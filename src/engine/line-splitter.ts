// Cuts a byte stream into text lines without holding unbounded memory: a
// line longer than `maxLine` bytes is emitted in pieces.

export const MAX_LINE_BYTES = 64 * 1024;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly onLine: (line: string, complete: boolean) => void,
    private readonly maxLine: number = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      if (this.pendingBytes > 0) {
        this.pending.push(chunk.subarray(start, nl));
        const whole = Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
        this.emitLine(whole);
      } else if (nl - start > this.maxLine) {
        this.emitLine(chunk.subarray(start, nl));
      } else {
        this.onLine(stripCr(chunk.toString("utf8", start, nl)), true);
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > this.maxLine) {
        const rest = this.cutLong(Buffer.concat(this.pending));
        this.pending = rest.length ? [Buffer.from(rest)] : [];
        this.pendingBytes = rest.length;
      }
    }
  }

  /** Emits whatever is buffered (end of the stream). */
  flush(): void {
    if (this.pendingBytes === 0) return;
    const whole = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.emitLine(whole);
  }

  private emitLine(buf: Buffer): void {
    const rest = this.cutLong(buf);
    this.onLine(stripCr(rest.toString("utf8")), true);
  }

  /** Emits pieces of at most maxLine bytes while more than maxLine remain; returns the rest. */
  private cutLong(buf: Buffer): Buffer {
    while (buf.length > this.maxLine) {
      let cut = this.maxLine;
      // Never cut inside a UTF-8 sequence.
      while (cut > 0 && (buf[cut]! & 0xc0) === 0x80) cut--;
      this.onLine(buf.toString("utf8", 0, cut), false);
      buf = buf.subarray(cut);
    }
    return buf;
  }
}

function stripCr(s: string): string {
  return s.endsWith("\r") ? s.slice(0, -1) : s;
}
