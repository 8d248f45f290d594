import { data } from "@actions/expressions";

/**
 * An object context seen by the evaluator. Children are converted only when
 * an expression reaches them, so a large `github.event` costs nothing unless
 * it is read. Keys match case-insensitively (first key wins), except for
 * `env`, which GitHub matches exactly. The evaluator only looks at `kind` and
 * calls get()/values()/pairs(), so overriding those is enough.
 */
export class LazyDictionary extends data.Dictionary {
  private readonly converted = new Map<string, data.ExpressionData>();
  private readonly added: string[] = [];
  private lowerIndex: Map<string, string> | undefined;

  constructor(
    private readonly src: Record<string, unknown>,
    private readonly caseSensitive = false,
  ) {
    super();
  }

  private keyFor(key: string): string | undefined {
    if (this.caseSensitive) return Object.hasOwn(this.src, key) || this.added.includes(key) ? key : undefined;
    if (!this.lowerIndex) {
      this.lowerIndex = new Map();
      for (const k of [...Object.keys(this.src), ...this.added]) {
        const lower = k.toLowerCase();
        if (!this.lowerIndex.has(lower)) this.lowerIndex.set(lower, k);
      }
    }
    return this.lowerIndex.get(key.toLowerCase());
  }

  override add(key: string, value: data.ExpressionData): void {
    if (this.keyFor(key) !== undefined) return;
    // Never write into the caller's object: keep added entries beside it.
    this.added.push(key);
    this.converted.set(key, value);
    this.lowerIndex?.set(key.toLowerCase(), key);
  }

  override get(key: string): data.ExpressionData | undefined {
    const actual = this.keyFor(key);
    if (actual === undefined) return undefined;
    let v = this.converted.get(actual);
    if (!v) {
      v = toData(this.src[actual]);
      this.converted.set(actual, v);
    }
    return v;
  }

  private ownKeys(): string[] {
    if (this.caseSensitive) return [...Object.keys(this.src), ...this.added];
    this.keyFor("");
    return [...this.lowerIndex!.values()];
  }

  override values(): data.ExpressionData[] {
    return this.ownKeys().map((k) => this.get(k)!);
  }

  override pairs(): { key: string; value: data.ExpressionData }[] {
    return this.ownKeys().map((key) => ({ key, value: this.get(key)! }));
  }
}

/** Plain JS value → expression data. `caseSensitive` applies to the top-level object only. */
export function toData(value: unknown, caseSensitive = false): data.ExpressionData {
  if (value === null || value === undefined) return new data.Null();
  if (isExpressionData(value)) return value;
  switch (typeof value) {
    case "string":
      return new data.StringData(value);
    case "number":
      return new data.NumberData(value);
    case "bigint":
      return new data.NumberData(Number(value));
    case "boolean":
      return new data.BooleanData(value);
    case "object":
      if (Array.isArray(value)) return new data.Array(...value.map((v) => toData(v)));
      return new LazyDictionary(value as Record<string, unknown>, caseSensitive);
    default:
      return new data.StringData(String(value));
  }
}

/** Expression data → plain JS value (objects keep key case). */
export function fromData(d: data.ExpressionData): unknown {
  switch (d.kind) {
    case data.Kind.Null:
      return null;
    case data.Kind.String:
      return (d as data.StringData).value;
    case data.Kind.Number:
      return d.number();
    case data.Kind.Boolean:
      return (d as data.BooleanData).value;
    case data.Kind.Array:
      return (d as data.Array).values().map(fromData);
    default: {
      const out: Record<string, unknown> = {};
      for (const p of (d as data.Dictionary).pairs()) out[p.key] = fromData(p.value);
      return out;
    }
  }
}

export function isExpressionData(v: unknown): v is data.ExpressionData {
  return (
    v instanceof data.Null ||
    v instanceof data.StringData ||
    v instanceof data.NumberData ||
    v instanceof data.BooleanData ||
    v instanceof data.Array ||
    v instanceof data.Dictionary
  );
}

/** GitHub's truthiness: null, false, 0, NaN and "" are false; arrays and objects are true. */
export function truthy(d: data.ExpressionData): boolean {
  switch (d.kind) {
    case data.Kind.Null:
      return false;
    case data.Kind.Boolean:
      return (d as data.BooleanData).value;
    case data.Kind.Number: {
      const n = d.number();
      return n !== 0 && !Number.isNaN(n);
    }
    case data.Kind.String:
      return (d as data.StringData).value.length > 0;
    default:
      return true;
  }
}

/** GitHub's coercion of a value to a string (null → "", arrays → "Array", objects → "Object"). */
export function dataToString(d: data.ExpressionData): string {
  return d.coerceString();
}
