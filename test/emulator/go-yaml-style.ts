/**
 * Values as go-yaml v3's encoder turns them into YAML nodes for Forgejo's payload structs: Go
 * strings that would read back as another type are double-quoted, multi-line strings become
 * literal blocks, `yaml.Node` fields keep the style they were written with, Go maps are ordered
 * the way go-yaml sorts keys. The emitter (go-yaml-emitter.ts) writes the result.
 */
import { Scalar, isAlias, isMap, isPair, isScalar, isSeq } from "yaml";
import type { GoNode, ScalarStyle } from "./go-yaml-emitter.js";

export { renderGoYaml } from "./go-yaml-emitter.js";
export type { GoNode } from "./go-yaml-emitter.js";

// ---- what a plain scalar would read back as (go-yaml resolve + the emitter's extra quoting) ----

const RESOLVE_MAP = new Set([
  "true", "True", "TRUE", "false", "False", "FALSE", "", "~", "null", "Null", "NULL",
  ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
  "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
]);
const YAML_FLOAT_RE = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const GO_INT_RE = /^[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[0-9]+)$/;
const BASE60_RE = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const TIMESTAMP_RE = /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})?)?$/;

/** True when go-yaml would not write this Go string plain (it would read back as another type). */
function needsQuoting(s: string): boolean {
  if (RESOLVE_MAP.has(s)) return true;
  const c = s[0]!;
  if (c === ".") return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s);
  if (!(c === "+" || c === "-" || (c >= "0" && c <= "9"))) return false;
  if (TIMESTAMP_RE.test(s) || BASE60_RE.test(s)) return true;
  const plain = s.replace(/_/g, "");
  return GO_INT_RE.test(plain) || YAML_FLOAT_RE.test(plain);
}

// ---- node builders ----

/** A Go `string` value, styled as go-yaml's encoder asks for it. */
export function goString(s: string): GoNode {
  const style: ScalarStyle = s.includes("\n") ? "literal" : needsQuoting(s) ? "double" : "plain";
  return { kind: "scalar", value: s, style };
}

/** strconv.FormatFloat(f, 'g', -1, 64) as go-yaml writes floats. */
function goFloat(x: number): string {
  if (Number.isNaN(x)) return ".nan";
  if (!Number.isFinite(x)) return x > 0 ? ".inf" : "-.inf";
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  const [mant, e] = x.toExponential().split("e") as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 21 || (exp >= 6 && !Number.isInteger(x))) {
    return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return String(x);
}

/** A Go value of type `any` (decoded YAML): maps get Go's key order. */
export function goValue(v: unknown): GoNode {
  if (v === null || v === undefined) return { kind: "scalar", value: "null", style: "plain" };
  if (typeof v === "string") return goString(v);
  if (typeof v === "number") return { kind: "scalar", value: goFloat(v), style: "plain" };
  if (typeof v === "boolean" || typeof v === "bigint") return { kind: "scalar", value: String(v), style: "plain" };
  if (Array.isArray(v)) return { kind: "seq", items: v.map(goValue), flow: false };
  if (typeof v === "object") return goStringMap(v as Record<string, unknown>, goValue);
  return goString(String(v));
}

/** A Go `map[string]T`. */
export function goStringMap<T>(m: Record<string, T>, value: (v: T) => GoNode): GoNode {
  return {
    kind: "map",
    pairs: Object.keys(m).sort(goKeyCompare).map((k) => [goString(k), value(m[k] as T)] as [GoNode, GoNode]),
    flow: false,
  };
}

/** A `yaml.Node` field: kept as written (scalar and collection styles); comments and anchors dropped. */
export function copyNode(node: unknown): GoNode {
  if (isAlias(node)) return goString(String(node.source));
  if (isScalar(node)) {
    const text = node.value === null ? (node.source === undefined ? "" : String(node.source)) : scalarText(node);
    const t = node.type;
    const style: ScalarStyle =
      t === Scalar.QUOTE_DOUBLE ? "double"
      : t === Scalar.QUOTE_SINGLE ? "single"
      : t === Scalar.BLOCK_LITERAL || t === Scalar.BLOCK_FOLDED || text.includes("\n") ? "literal"
      : "plain";
    return { kind: "scalar", value: text, style };
  }
  if (isSeq(node)) return { kind: "seq", items: node.items.map(copyNode), flow: Boolean(node.flow) };
  if (isMap(node)) {
    const pairs: [GoNode, GoNode][] = [];
    for (const p of node.items) {
      if (isPair(p)) pairs.push([copyNode(p.key), p.value == null ? { kind: "scalar", value: "", style: "plain" } : copyNode(p.value)]);
    }
    return { kind: "map", pairs, flow: Boolean(node.flow) };
  }
  return { kind: "scalar", value: "", style: "plain" };
}

/** The text of a scalar as written in the source (numbers keep their spelling). */
function scalarText(node: Scalar): string {
  if (typeof node.value === "string") return node.value;
  if (typeof node.source === "string") return node.source;
  return typeof node.value === "number" ? goFloat(node.value) : String(node.value);
}

/** Ordered mapping builder that skips Go's `omitempty` zero values. */
export class GoMapping {
  readonly pairs: [GoNode, GoNode][] = [];

  /** A Go map, slice or struct field: omitted when empty. */
  set(key: string | GoNode, value: GoNode | undefined): this {
    if (value === undefined) return this;
    if (value.kind === "map" && value.pairs.length === 0) return this;
    if (value.kind === "seq" && value.items.length === 0) return this;
    return this.setNode(key, value);
  }

  /** A `yaml.Node` field: present whenever the source had the key. */
  setNode(key: string | GoNode, value: GoNode): this {
    this.pairs.push([typeof key === "string" ? goString(key) : key, value]);
    return this;
  }

  setString(key: string, value: string | undefined): this {
    if (value === undefined || value === "") return this;
    return this.set(key, goString(value));
  }

  get node(): GoNode {
    return { kind: "map", pairs: this.pairs, flow: false };
  }
}

/** Go's map key order (yaml.v3 keyList): letters and digit runs compared "naturally". */
export function goKeyCompare(a: string, b: string): number {
  const ar = [...a];
  const br = [...b];
  const isDigit = (c: string) => c >= "0" && c <= "9";
  const isLetter = (c: string) => /\p{L}/u.test(c);
  let digits = false;
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const ca = ar[i]!;
    const cb = br[i]!;
    if (ca === cb) {
      digits = isDigit(ca);
      continue;
    }
    const al = isLetter(ca);
    const bl = isLetter(cb);
    if (al && bl) return ca < cb ? -1 : 1;
    if (al || bl) {
      if (digits) return al ? -1 : 1;
      return bl ? -1 : 1;
    }
    let an = 0;
    let bn = 0;
    if (ca === "0" || cb === "0") {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]!); j--) {
        if (ar[j] !== "0") {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    let ai = i;
    let bi = i;
    for (; ai < ar.length && isDigit(ar[ai]!); ai++) an = an * 10 + Number(ar[ai]);
    for (; bi < br.length && isDigit(br[bi]!); bi++) bn = bn * 10 + Number(br[bi]);
    if (an !== bn) return an < bn ? -1 : 1;
    if (ai !== bi) return ai < bi ? -1 : 1;
    return ca < cb ? -1 : 1;
  }
  return ar.length - br.length;
}

