/**
 * The writing half of go-yaml v3's `yaml.Marshal`: its emitter's indentation (4 spaces, realigned
 * to multiples of 4 after a "- ", so a step's `with:` children sit 2 columns right of the key),
 * folding of plain and quoted scalars at a space once past column 80, scalar style fallbacks
 * (plain, else single-quoted, else double-quoted; literal blocks unless impossible) and escapes.
 */

export type ScalarStyle = "plain" | "single" | "double" | "literal";

export type GoNode =
  | { kind: "scalar"; value: string; style: ScalarStyle }
  | { kind: "seq"; items: GoNode[]; flow: boolean }
  | { kind: "map"; pairs: [GoNode, GoNode][]; flow: boolean };

const BEST_INDENT = 4;
const BEST_WIDTH = 80;

export const isBreak = (c: string | undefined) => c === "\n" || c === "\r" || c === "\u0085" || c === "\u2028" || c === "\u2029";
const isBlank = (c: string | undefined) => c === " " || c === "\t";

export function isPrintable(c: string): boolean {
  const cp = c.codePointAt(0)!;
  return (
    cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff)
  );
}

interface Analysis {
  multiline: boolean;
  flowPlain: boolean;
  blockPlain: boolean;
  single: boolean;
  block: boolean;
}

function analyze(value: string): Analysis {
  const chars = [...value];
  if (chars.length === 0) return { multiline: false, flowPlain: false, blockPlain: true, single: true, block: false };
  let blockInd = false;
  let flowInd = false;
  let lineBreaks = false;
  let special = false;
  let tabs = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let prevSpace = false;
  let prevBreak = false;
  let precededByWs = true;
  if (value.startsWith("---") || value.startsWith("...")) {
    blockInd = true;
    flowInd = true;
  }
  chars.forEach((c, i) => {
    const next = chars[i + 1];
    const followedByWs = next === undefined || isBlank(next) || isBreak(next);
    if (i === 0) {
      if ("#,[]{}&*!|>'\"%@`".includes(c)) {
        flowInd = true;
        blockInd = true;
      } else if (c === "?" || c === ":") {
        flowInd = true;
        if (followedByWs) blockInd = true;
      } else if (c === "-" && followedByWs) {
        flowInd = true;
        blockInd = true;
      }
    } else if (",?[]{}".includes(c)) {
      flowInd = true;
    } else if (c === ":") {
      flowInd = true;
      if (followedByWs) blockInd = true;
    } else if (c === "#" && precededByWs) {
      flowInd = true;
      blockInd = true;
    }
    if (c === "\t") tabs = true;
    else if (!isPrintable(c)) special = true;
    if (c === " ") {
      if (i === 0) leadingSpace = true;
      if (i === chars.length - 1) trailingSpace = true;
      if (prevBreak) breakSpace = true;
      prevSpace = true;
      prevBreak = false;
    } else if (isBreak(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === chars.length - 1) trailingBreak = true;
      if (prevSpace) spaceBreak = true;
      prevSpace = false;
      prevBreak = true;
    } else {
      prevSpace = false;
      prevBreak = false;
    }
    precededByWs = isBlank(c) || isBreak(c);
  });
  const a: Analysis = { multiline: lineBreaks, flowPlain: true, blockPlain: true, single: true, block: true };
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) a.flowPlain = a.blockPlain = false;
  if (trailingSpace) a.block = false;
  if (breakSpace) a.flowPlain = a.blockPlain = a.single = false;
  if (spaceBreak || tabs || special) a.flowPlain = a.blockPlain = a.single = false;
  if (spaceBreak || special) a.block = false;
  if (lineBreaks) a.flowPlain = a.blockPlain = false;
  if (flowInd) a.flowPlain = false;
  if (blockInd) a.blockPlain = false;
  return a;
}

// ---- the writer ----

type Ctx = "root" | "seq-item" | "other";

class Writer {
  text = "";
  column = 0;
  whitespace = true;
  indention = true;
  flowLevel = 0;

  private put(c: string): void {
    this.text += c;
    this.column++;
  }

  write(s: string): void {
    for (const c of s) this.put(c);
  }

  newline(): void {
    this.text += "\n";
    this.column = 0;
    this.indention = true;
  }

  writeIndent(indent: number): void {
    const i = Math.max(indent, 0);
    if (!this.indention || this.column > i || (this.column === i && !this.whitespace)) this.newline();
    while (this.column < i) this.put(" ");
    this.whitespace = true;
  }

  indicator(s: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(" ");
    this.write(s);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }
}

function increase(indent: number, flow: boolean, ctx: Ctx): number {
  if (indent < 0) return flow ? BEST_INDENT : 0;
  if (ctx === "seq-item") return indent + 2;
  return BEST_INDENT * Math.floor((indent + BEST_INDENT) / BEST_INDENT);
}

function emit(w: Writer, node: GoNode, indent: number, ctx: Ctx, simpleKey: boolean): void {
  if (node.kind === "scalar") return emitScalar(w, node.value, node.style, increase(indent, true, ctx), simpleKey);
  const empty = node.kind === "seq" ? node.items.length === 0 : node.pairs.length === 0;
  if (w.flowLevel > 0 || node.flow || empty) return emitFlow(w, node, increase(indent, true, ctx));
  if (node.kind === "seq") {
    const seqIndent = increase(indent, false, ctx);
    for (const item of node.items) {
      w.writeIndent(seqIndent);
      w.indicator("-", true, false, true);
      emit(w, item, seqIndent, "seq-item", false);
    }
    return;
  }
  const mapIndent = increase(indent, false, ctx);
  for (const [k, v] of node.pairs) {
    w.writeIndent(mapIndent);
    emit(w, k, mapIndent, "other", true);
    w.indicator(":", false, false, false);
    emit(w, v, mapIndent, "other", false);
  }
}

function emitFlow(w: Writer, node: Exclude<GoNode, { kind: "scalar" }>, indent: number): void {
  w.indicator(node.kind === "seq" ? "[" : "{", true, true, false);
  w.flowLevel++;
  const entries: [GoNode, GoNode | undefined][] =
    node.kind === "seq" ? node.items.map((i) => [i, undefined]) : node.pairs.map(([k, v]) => [k, v]);
  entries.forEach(([first, second], i) => {
    if (i > 0) w.indicator(",", false, false, false);
    if (w.column === 0 || w.column > BEST_WIDTH) w.writeIndent(indent);
    emit(w, first, indent, "other", second !== undefined);
    if (second !== undefined) {
      w.indicator(":", false, false, false);
      emit(w, second, indent, "other", false);
    }
  });
  w.flowLevel--;
  w.indicator(node.kind === "seq" ? "]" : "}", false, false, false);
}

function emitScalar(w: Writer, value: string, requested: ScalarStyle, indent: number, simpleKey: boolean): void {
  const a = analyze(value);
  let style = requested;
  if (simpleKey && a.multiline) style = "double";
  if (style === "plain") {
    if ((w.flowLevel > 0 && !a.flowPlain) || (w.flowLevel === 0 && !a.blockPlain)) style = "single";
    if (value === "" && (w.flowLevel > 0 || simpleKey)) style = "single";
  }
  if (style === "single" && !a.single) style = "double";
  if (style === "literal" && (!a.block || w.flowLevel > 0 || simpleKey)) style = "double";
  const allowBreaks = !simpleKey;
  const chars = [...value];
  switch (style) {
    case "plain": {
      if (chars.length > 0 && !w.whitespace) w.write(" ");
      let spaces = false;
      chars.forEach((c, i) => {
        if (c === " ") {
          if (allowBreaks && !spaces && w.column > BEST_WIDTH && chars[i + 1] !== " ") w.writeIndent(indent);
          else w.write(c);
          spaces = true;
        } else {
          w.write(c);
          w.indention = false;
          spaces = false;
        }
      });
      w.whitespace = false;
      w.indention = false;
      return;
    }
    case "single": {
      w.indicator("'", true, false, false);
      let spaces = false;
      let breaks = false;
      chars.forEach((c, i) => {
        if (c === " ") {
          if (allowBreaks && !spaces && w.column > BEST_WIDTH && i > 0 && i < chars.length - 1 && chars[i + 1] !== " ") {
            w.writeIndent(indent);
          } else {
            w.write(c);
          }
          spaces = true;
        } else if (isBreak(c)) {
          if (!breaks && c === "\n") w.newline();
          w.newline();
          breaks = true;
        } else {
          if (breaks) w.writeIndent(indent);
          w.write(c === "'" ? "''" : c);
          w.indention = false;
          spaces = false;
          breaks = false;
        }
      });
      w.indicator("'", false, false, false);
      w.whitespace = false;
      w.indention = false;
      return;
    }
    case "double": {
      w.indicator('"', true, false, false);
      let spaces = false;
      chars.forEach((c, i) => {
        if (!isPrintable(c) || c === "\ufeff" || isBreak(c) || c === '"' || c === "\\") {
          w.write(`\\${escapeChar(c)}`);
          spaces = false;
        } else if (c === " ") {
          if (allowBreaks && !spaces && w.column > BEST_WIDTH && i > 0 && i < chars.length - 1) {
            w.writeIndent(indent);
            if (chars[i + 1] === " ") w.write("\\");
          } else {
            w.write(c);
          }
          spaces = true;
        } else {
          w.write(c);
          spaces = false;
        }
      });
      w.indicator('"', false, false, false);
      w.whitespace = false;
      w.indention = false;
      return;
    }
    case "literal": {
      w.indicator("|", true, false, false);
      if (chars[0] === " " || isBreak(chars[0])) w.indicator(String(BEST_INDENT), false, false, false);
      const last = chars[chars.length - 1];
      if (chars.length === 0 || !isBreak(last)) w.indicator("-", false, false, false);
      else if (chars.length === 1 || isBreak(chars[chars.length - 2])) w.indicator("+", false, false, false);
      w.newline();
      w.whitespace = true;
      let breaks = true;
      for (const c of chars) {
        if (isBreak(c)) {
          if (c === "\n") w.newline();
          else {
            w.write(c);
            w.column = 0;
            w.indention = true;
          }
          breaks = true;
        } else {
          if (breaks) w.writeIndent(indent);
          w.write(c);
          w.indention = false;
          breaks = false;
        }
      }
      return;
    }
  }
}

function escapeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  const named: Record<number, string> = {
    0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0a: "n", 0x0b: "v", 0x0c: "f", 0x0d: "r", 0x1b: "e",
    0x22: '"', 0x5c: "\\", 0x85: "N", 0xa0: "_", 0x2028: "L", 0x2029: "P",
  };
  if (named[cp] !== undefined) return named[cp]!;
  const hex = cp.toString(16).toUpperCase();
  if (cp <= 0xff) return `x${hex.padStart(2, "0")}`;
  if (cp <= 0xffff) return `u${hex.padStart(4, "0")}`;
  return `U${hex.padStart(8, "0")}`;
}

/** The document as go-yaml v3's yaml.Marshal writes it. */
export function renderGoYaml(root: GoNode): string {
  const w = new Writer();
  emit(w, root, -1, "root", false);
  if (w.column > 0 || !w.text.endsWith("\n")) w.newline();
  return w.text;
}
