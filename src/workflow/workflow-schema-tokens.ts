// GitHub's workflow schema built straight from its JSON.
//
// @actions/workflow-parser builds its schema by reading the JSON through its
// template reader and checking it against the schema language's own schema:
// about 60 ms of every `exec`/`validate` start, spent re-checking a file that
// ships with the package and never changes. The bundle (scripts/bundle.mjs)
// gives the package this builder instead; test/workflow/schema-tokens.test.ts
// checks that both give the same schema.
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

/**
 * The schema described by `json` (the package's workflow-v1.0 schema). The package's consistency check of the
 * definitions is private; the test compares the result with the package's own checked schema instead.
 */
export function schemaFromJson(json: unknown): TemplateSchema {
  const root = token(json);
  if (!(root instanceof MappingToken)) throw new Error("the workflow schema is not a mapping");
  return new TemplateSchema(root);
}
