import {
  Evaluator,
  ExpressionError as LibExpressionError,
  Lexer,
  Parser,
  data,
  type Expr,
} from "@actions/expressions";
import { TokenType, type Token } from "@actions/expressions/lexer";
import { FunctionCall, ContextAccess, IndexAccess, Logical, Binary, Unary, Grouping } from "@actions/expressions/ast";
import { fromData, toData, truthy } from "./data-convert.js";
import { HOST_FUNCTION_INFO, STATUS_FUNCTIONS, hostFunctions } from "./functions.js";
import { HashFilesPending } from "./hash-files.js";
import { ExpressionError, type EvalContext } from "./types.js";

/** Other names GitHub-compatible workflows use for the `github` context. */
const GITHUB_ALIASES = ["forge", "gitea"];

const parseCache = new Map<string, Expr | undefined>();
const PARSE_CACHE_MAX = 2000;

function contextNames(ctx: EvalContext): string[] {
  const names = Object.keys(ctx.contexts);
  if (names.some((n) => n.toLowerCase() === "github")) names.push(...GITHUB_ALIASES);
  return names;
}

function parse(expr: string, names: string[]): Expr | undefined {
  const key = `${names.join(",")}\u0000${expr}`;
  if (parseCache.has(key)) return parseCache.get(key);
  let ast: Expr | undefined;
  try {
    ast = new Parser(fixStringLiterals(new Lexer(expr).lex().tokens), names, HOST_FUNCTION_INFO).parse();
  } catch (err) {
    if (err instanceof HashFilesPending) throw err;
    throw wrapError(err, expr);
  }
  if (parseCache.size >= PARSE_CACHE_MAX) parseCache.clear();
  parseCache.set(key, ast);
  return ast;
}

/**
 * The library's lexer unescapes only the first `''` of a string literal
 * (`value.replace("''", "'")`); GitHub unescapes every one. The lexeme keeps
 * the literal as written, so the value is recomputed from it.
 */
function fixStringLiterals(tokens: Token[]): Token[] {
  for (const t of tokens) {
    if (t.type === TokenType.STRING && t.lexeme.length >= 2 && t.lexeme.startsWith("'") && t.lexeme.endsWith("'")) {
      t.value = t.lexeme.slice(1, -1).replaceAll("''", "'");
    }
  }
  return tokens;
}

function wrapError(err: unknown, expr: string): ExpressionError {
  if (err instanceof ExpressionError) return err;
  const e = err as Error;
  let msg = e.message ?? String(err);
  if (err instanceof LibExpressionError && !msg.includes("Located at position")) {
    msg += `. Located at position ${err.pos.column + 1} within expression: ${expr}`;
  } else if (!msg.includes("within expression")) {
    msg += ` (in expression: ${expr})`;
  }
  return new ExpressionError(msg, expr, { cause: err });
}

function buildContextData(ctx: EvalContext): data.Dictionary {
  const dict = new data.Dictionary();
  for (const [name, value] of Object.entries(ctx.contexts)) {
    dict.add(name, toData(value, name === "env"));
  }
  const github = dict.get("github");
  if (github) for (const alias of GITHUB_ALIASES) dict.add(alias, github);
  return dict;
}

function run(ast: Expr | undefined, expr: string, ctx: EvalContext, contexts?: data.Dictionary): data.ExpressionData {
  if (!ast) return new data.Null();
  try {
    return new Evaluator(ast, contexts ?? buildContextData(ctx), hostFunctions(ctx)).evaluate();
  } catch (err) {
    if (err instanceof HashFilesPending) throw err;
    throw wrapError(err, expr);
  }
}

/** Evaluates the text inside `${{ }}` and returns a plain JS value. */
export function evaluateExpression(expr: string, ctx: EvalContext): unknown {
  return fromData(evaluateData(expr, ctx));
}

function evaluateData(expr: string, ctx: EvalContext): data.ExpressionData {
  return run(parse(expr, contextNames(ctx)), expr, ctx);
}

interface Segment {
  literal?: string;
  expr?: string;
}

/**
 * Splits a string into literal parts and `${{ }}` expressions. A `}}` inside
 * a single-quoted string literal does not close the expression.
 */
export function splitTemplate(template: string): Segment[] {
  const out: Segment[] = [];
  let pos = 0;
  while (pos < template.length) {
    const start = template.indexOf("${{", pos);
    if (start < 0) break;
    let i = start + 3;
    let inString = false;
    let end = -1;
    for (; i < template.length; i++) {
      const c = template[i];
      if (inString) {
        if (c === "'") {
          if (template[i + 1] === "'") i++;
          else inString = false;
        }
      } else if (c === "'") {
        inString = true;
      } else if (c === "}" && template[i + 1] === "}") {
        end = i;
        break;
      }
    }
    if (end < 0) {
      throw new ExpressionError(
        `The expression is not closed. An unescaped \${{ sequence was found, but the closing }} sequence was not found: ${template.slice(start)}`,
        template.slice(start + 3),
      );
    }
    if (start > pos) out.push({ literal: template.slice(pos, start) });
    out.push({ expr: template.slice(start + 3, end).trim() });
    pos = end + 2;
  }
  if (pos < template.length) out.push({ literal: template.slice(pos) });
  return out;
}

/** Replaces every `${{ }}` in `template` with its value coerced to a string. */
export function interpolate(template: string, ctx: EvalContext): string {
  if (!template.includes("${{")) return template;
  let contexts: data.Dictionary | undefined;
  let out = "";
  for (const seg of splitTemplate(template)) {
    if (seg.literal !== undefined) {
      out += seg.literal;
      continue;
    }
    const expr = seg.expr!;
    contexts ??= buildContextData(ctx);
    out += run(parse(expr, contextNames(ctx)), expr, ctx, contexts).coerceString();
  }
  return out;
}

/**
 * Evaluates every string inside `raw` (deep: arrays and object keys/values).
 * A string that is exactly one `${{ }}` keeps the value's type.
 */
export function evaluateValue(raw: unknown, ctx: EvalContext): unknown {
  if (typeof raw === "string") {
    if (!raw.includes("${{")) return raw;
    const segs = splitTemplate(raw);
    if (segs.length === 1 && segs[0]!.expr !== undefined) return evaluateExpression(segs[0]!.expr, ctx);
    return interpolate(raw, ctx);
  }
  if (Array.isArray(raw)) return raw.map((v) => evaluateValue(v, ctx));
  if (raw !== null && typeof raw === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) out[interpolate(k, ctx)] = evaluateValue(v, ctx);
    return out;
  }
  return raw;
}

/**
 * Evaluates an `if:` condition. The text may be bare or wrapped in `${{ }}`.
 * Without a status function, `success() && (...)` is implied. The `secrets`
 * context is refused unless `allowSecrets`.
 */
export function evaluateCondition(
  ifText: string | undefined,
  ctx: EvalContext,
  opts?: { allowSecrets?: boolean },
): boolean {
  const successFn = hostFunctions(ctx).get("success")!;
  const text = (ifText ?? "").trim();
  if (text === "") return truthy(successFn.call());

  const segs = splitTemplate(text);
  if (segs.length === 1 && segs[0]!.expr !== undefined) {
    // GitHub turns `${{ 'text' }}` into its plain string first, and that string is the condition.
    const literal = loneStringLiteral(segs[0]!.expr);
    if (literal !== undefined) {
      if (literal.trim() === "") return truthy(successFn.call());
      return evaluateBareCondition(literal.trim(), ctx, opts);
    }
    return evaluateBareCondition(segs[0]!.expr, ctx, opts);
  }
  if (segs.some((s) => s.expr !== undefined)) {
    // Text mixing literals and ${{ }} is a string; a non-empty string is true.
    for (const s of segs) if (s.expr !== undefined) checkConditionAst(parse(s.expr, contextNames(ctx)), s.expr, opts);
    const usesStatus = segs.some((s) => s.expr !== undefined && hasStatusFunction(parse(s.expr, contextNames(ctx))));
    if (!usesStatus && !truthy(successFn.call())) return false;
    return interpolate(text, ctx).length > 0;
  }
  return evaluateBareCondition(text, ctx, opts);
}

function loneStringLiteral(expr: string): string | undefined {
  let tokens: Token[];
  try {
    tokens = fixStringLiterals(new Lexer(expr).lex().tokens);
  } catch {
    return undefined;
  }
  const real = tokens.filter((t) => t.type !== TokenType.EOF);
  return real.length === 1 && real[0]!.type === TokenType.STRING ? String(real[0]!.value) : undefined;
}

function evaluateBareCondition(expr: string, ctx: EvalContext, opts?: { allowSecrets?: boolean }): boolean {
  const ast = parse(expr, contextNames(ctx));
  checkConditionAst(ast, expr, opts);
  if (!hasStatusFunction(ast) && !truthy(hostFunctions(ctx).get("success")!.call())) return false;
  return truthy(run(ast, expr, ctx));
}

function checkConditionAst(ast: Expr | undefined, expr: string, opts?: { allowSecrets?: boolean }): void {
  if (opts?.allowSecrets) return;
  let found = false;
  walk(ast, (n) => {
    if (n instanceof ContextAccess && n.name.lexeme.toLowerCase() === "secrets") found = true;
  });
  if (found) {
    throw new ExpressionError(
      `The 'secrets' context is not allowed in 'if:' conditions; set the secret as an env variable and test env instead (in expression: ${expr})`,
      expr,
    );
  }
}

export function hasStatusFunction(ast: Expr | undefined): boolean {
  let found = false;
  walk(ast, (n) => {
    if (n instanceof FunctionCall && (STATUS_FUNCTIONS as readonly string[]).includes(n.functionName.lexeme.toLowerCase())) {
      found = true;
    }
  });
  return found;
}

function walk(n: Expr | undefined, visit: (n: Expr) => void): void {
  if (!n) return;
  visit(n);
  if (n instanceof FunctionCall || n instanceof Logical) n.args.forEach((a) => walk(a, visit));
  else if (n instanceof Binary) {
    walk(n.left, visit);
    walk(n.right, visit);
  } else if (n instanceof Unary) walk(n.expr, visit);
  else if (n instanceof Grouping) walk(n.group, visit);
  else if (n instanceof IndexAccess) {
    walk(n.expr, visit);
    walk(n.index, visit);
  }
}

/** GitHub's coercion of a value to a string: null → "", arrays → "Array", objects → "Object". */
export function toExpressionString(v: unknown): string {
  return toData(v).coerceString();
}
