// Matrix expansion as GitHub documents it: the cartesian product of the
// vectors, minus `exclude` (partial matches), then each `include` entry is
// merged into every combination whose original values it does not change,
// or added as a new combination when it fits none.

export type MatrixCombo = Record<string, unknown>;

export class MatrixError extends Error {
  override name = "MatrixError";
}

const MAX_COMBINATIONS = 256;

/** Expands an evaluated `strategy.matrix`. Undefined/null → one combination without matrix values. */
export function expandMatrix(matrix: unknown): MatrixCombo[] | undefined {
  if (matrix === undefined || matrix === null) return undefined;
  if (typeof matrix !== "object" || Array.isArray(matrix)) {
    throw new MatrixError(`The matrix must be a mapping, got ${describe(matrix)}`);
  }
  const m = matrix as Record<string, unknown>;
  const include = listOfObjects(m.include, "include");
  const exclude = listOfObjects(m.exclude, "exclude");
  const vectors: [string, unknown[]][] = [];
  for (const [key, value] of Object.entries(m)) {
    if (key === "include" || key === "exclude") continue;
    if (!Array.isArray(value)) throw new MatrixError(`Matrix vector '${key}' must be a sequence, got ${describe(value)}`);
    if (value.length === 0) throw new MatrixError(`Matrix vector '${key}' does not contain any values`);
    vectors.push([key, value]);
  }

  let combos: MatrixCombo[] = [];
  if (vectors.length > 0) {
    combos = [{}];
    for (const [key, values] of vectors) {
      const next: MatrixCombo[] = [];
      for (const c of combos) for (const v of values) next.push({ ...c, [key]: v });
      combos = next;
      if (combos.length > MAX_COMBINATIONS * 16) break;
    }
  }
  for (const ex of exclude) {
    combos = combos.filter((c) => !Object.entries(ex).every(([k, v]) => k in c && deepEqual(c[k], v)));
  }

  const originalKeys = new Set(vectors.map(([k]) => k));
  const base = combos.length;
  const extra: MatrixCombo[] = [];
  for (const inc of include) {
    let merged = false;
    for (let i = 0; i < base; i++) {
      const c = combos[i]!;
      const fits = Object.entries(inc).every(([k, v]) => !originalKeys.has(k) || deepEqual(c[k], v));
      if (fits) {
        Object.assign(c, structuredClone(inc));
        merged = true;
      }
    }
    if (!merged) extra.push(structuredClone(inc));
  }
  combos.push(...extra);

  if (combos.length === 0) throw new MatrixError("The matrix produces no combinations");
  if (combos.length > MAX_COMBINATIONS) {
    throw new MatrixError(`The matrix produces ${combos.length} combinations; at most ${MAX_COMBINATIONS} are allowed`);
  }
  return combos;
}

/** GitHub's display name of a matrix instance: `<name> (<v1>, <v2>)`; empty and null values are left out. */
export function matrixJobName(base: string, combo: MatrixCombo | undefined): string {
  if (!combo) return base;
  const values = Object.values(combo).map(displayValue).filter((v) => v !== "");
  return values.length ? `${base} (${values.join(", ")})` : base;
}

function displayValue(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function listOfObjects(v: unknown, what: string): Record<string, unknown>[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new MatrixError(`Matrix '${what}' must be a sequence of mappings, got ${describe(v)}`);
  return v.map((e) => {
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      throw new MatrixError(`Matrix '${what}' entries must be mappings, got ${describe(e)}`);
    }
    return e as Record<string, unknown>;
  });
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a sequence";
  return typeof v === "object" ? "a mapping" : `${typeof v} '${String(v)}'`;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
