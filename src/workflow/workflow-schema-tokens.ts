// GitHub's workflow schema built straight from its JSON, one definition at a time.
//
// @actions/workflow-parser builds its schema by reading the JSON through its
// template reader and checking it against the schema language's own schema:
// about 60 ms of every `exec`/`validate` start, spent re-checking a file that
// ships with the package and never changes. The bundle (scripts/bundle.mjs)
// gives the package this builder instead; test/workflow/schema-tokens.test.ts
// checks that both give the same schema.
//
// Even built straight from the JSON, the schema's ~250 definitions cost a
// cold process 10–15 ms (exec and every job worker build it once), while a
// workflow's validation looks up a few dozen. So each definition is built by
// the package's own constructor the first time it is looked up.
import type { Definition } from "@actions/workflow-parser/templates/schema/definition";
import { TemplateSchema } from "@actions/workflow-parser/templates/schema/template-schema";
import {
  BooleanToken, MappingToken, NullToken, NumberToken, SequenceToken, StringToken, type TemplateToken,
} from "@actions/workflow-parser/templates/tokens/index";

function token(value: unknown): TemplateToken {
  if (value === null || value === undefined) return new NullToken(undefined, undefined, undefined);
  switch (typeof value) {
    case "boolean":
      return new BooleanToken(undefined, undefined, value, undefined);
    case "number":
      return new NumberToken(undefined, undefined, value, undefined);
    case "string":
      return new StringToken(undefined, undefined, value, undefined);
    case "object": {
      if (Array.isArray(value)) {
        const seq = new SequenceToken(undefined, undefined, undefined);
        for (const item of value) seq.add(token(item));
        return seq;
      }
      const map = new MappingToken(undefined, undefined, undefined);
      for (const [k, v] of Object.entries(value)) map.add(new StringToken(undefined, undefined, k, undefined), token(v));
      return map;
    }
    default:
      throw new Error(`unexpected ${typeof value} in the workflow schema`);
  }
}

type Decorator = (name: string, definition: Definition) => void;
const DECORATORS = Symbol("decorators of a lazily built schema");
type LazySchema = TemplateSchema & { [DECORATORS]?: Decorator[] };

interface SchemaJson {
  version?: unknown;
  definitions?: Record<string, Record<string, unknown>>;
}

/**
 * The schema described by `json` (the package's workflow-v1.0 schema), each definition built when first looked up.
 * The package's consistency check of the definitions is private; the test compares the result with the package's
 * own checked schema instead.
 */
export function schemaFromJson(json: unknown): TemplateSchema {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("the workflow schema is not a mapping");
  const { version, definitions = {}, ...rest } = json as SchemaJson;
  const unexpected = Object.keys(rest)[0];
  if (unexpected !== undefined) throw new Error(`unexpected key '${unexpected}' in the workflow schema`);
  const schema: LazySchema = new TemplateSchema(undefined);
  schema[DECORATORS] = [];
  if (typeof version === "string") Object.assign(schema, { version });
  const defs = schema.definitions;
  // Replacing an accessor by a value on an object of a few hundred properties in V8's fast mode copies its whole
  // shape each time (0.7 ms per definition, 350 ms for all): deleting a property that is not the last one added
  // turns the object into a hash table first (the builtin definitions are put back at once).
  const builtins = Object.entries(defs);
  for (const [n] of builtins) delete defs[n];
  for (const [n, d] of builtins) defs[n] = d;
  for (const [name, body] of Object.entries(definitions)) {
    // What one definition's constructor adds to the schema: itself and, for `allowed-values`, a constant
    // string definition per value, named `<name>-<value>`.
    const names = [name];
    const allowed = body["allowed-values"];
    if (Array.isArray(allowed)) for (const v of allowed) if (typeof v === "string") names.push(`${name}-${v}`);
    const build = (): void => {
      const one = new TemplateSchema(token({ definitions: { [name]: body } }) as MappingToken);
      for (const n of names) {
        const def = one.definitions[n];
        if (!def) throw new Error(`the workflow schema's definition '${name}' did not build '${n}'`);
        for (const decorate of schema[DECORATORS]!) decorate(n, def);
        Object.defineProperty(defs, n, { value: def, writable: true, enumerable: true, configurable: true });
      }
    };
    for (const n of names) {
      Object.defineProperty(defs, n, {
        enumerable: true,
        configurable: true,
        get: () => (build(), defs[n]),
        set: (value: Definition) => Object.defineProperty(defs, n, { value, writable: true, enumerable: true, configurable: true }),
      });
    }
  }
  return schema;
}

/**
 * Runs `decorate` on every definition of `schema`: at once for a schema built eagerly (the package's own, under
 * tsx), as each definition is built for one from schemaFromJson, so that changing every definition does not build
 * them all.
 */
export function decorateDefinitions(schema: TemplateSchema, decorate: Decorator): void {
  const lazy = (schema as LazySchema)[DECORATORS];
  if (!lazy) {
    for (const [name, def] of Object.entries(schema.definitions)) decorate(name, def);
    return;
  }
  lazy.push(decorate);
  for (const name of Object.keys(schema.definitions)) {
    const d = Object.getOwnPropertyDescriptor(schema.definitions, name);
    if (d && "value" in d) decorate(name, d.value as Definition);
  }
}
