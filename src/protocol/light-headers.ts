// The Fetch API's Headers class for the bundled CLI (scripts/bundle.mjs injects it where the bundled code names
// `Headers`, in place of the global). Connect keeps request and response metadata in Headers objects, and Node's
// global Headers loads its whole fetch implementation with it: about 12 MiB of resident memory that a daemon
// which never calls fetch() carries for its lifetime. This is the class alone, with the same normalisation,
// validation, combining and ordering; test/protocol/light-headers.test.ts compares it with Node's.

type Init = Iterable<readonly [string, string] | readonly string[]> | Record<string, string | readonly string[]>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

function headerName(name: string): string {
  const n = String(name);
  if (!TOKEN.test(n)) throw new TypeError(`Headers: invalid header name: "${n}"`);
  return n.toLowerCase();
}

function headerValue(value: string): string {
  const v = String(value).replace(EDGE_WHITESPACE, "");
  if (/[\0\r\n]/.test(v)) throw new TypeError(`Headers: invalid header value: "${v}"`);
  return v;
}

export class LightHeaders implements globalThis.Headers {
  /** Lower-case name → values in the order they were appended. */
  readonly #fields = new Map<string, string[]>();

  constructor(init?: Init | globalThis.Headers) {
    if (init === undefined || init === null) return;
    if (typeof init !== "object") throw new TypeError("Headers: init must be an object");
    if (Symbol.iterator in init) {
      for (const pair of init as Iterable<readonly string[]>) {
        if (typeof pair === "string" || pair.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
        this.append(pair[0]!, pair[1]!);
      }
    } else {
      for (const key of Object.keys(init)) this.append(key, String((init as Record<string, string>)[key]));
    }
  }

  append(name: string, value: string): void {
    const key = headerName(name);
    const v = headerValue(value);
    const values = this.#fields.get(key);
    if (values) values.push(v);
    else this.#fields.set(key, [v]);
  }

  delete(name: string): void {
    this.#fields.delete(headerName(name));
  }

  get(name: string): string | null {
    return this.#fields.get(headerName(name))?.join(", ") ?? null;
  }

  getSetCookie(): string[] {
    return [...(this.#fields.get("set-cookie") ?? [])];
  }

  has(name: string): boolean {
    return this.#fields.has(headerName(name));
  }

  set(name: string, value: string): void {
    this.#fields.set(headerName(name), [headerValue(value)]);
  }

  forEach(callback: (value: string, key: string, parent: globalThis.Headers) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  /** Sorted by name; values of one name combined with ", ", except set-cookie's, one entry each. */
  *entries(): IterableIterator<[string, string]> {
    for (const key of [...this.#fields.keys()].sort()) {
      const values = this.#fields.get(key);
      if (!values) continue;
      if (key === "set-cookie") for (const v of values) yield [key, v];
      else yield [key, values.join(", ")];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }
}

export { LightHeaders as Headers };
