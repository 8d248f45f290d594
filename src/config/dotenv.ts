// A dotenv reader with the rules of godotenv, which forgejo-runner uses for
// `runner.env_file`: `KEY=value` or `KEY: value`, an optional `export `,
// `#` comments, 'single' quotes taken literally, "double" quotes with \n-style
// escapes, and $VAR / ${VAR} expanded from keys defined earlier in the file.

export class DotenvError extends Error {
  override name = "DotenvError";
}

export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let src = text.replace(/\r\n?/g, "\n");
  for (;;) {
    src = src.replace(/^\s+/, "");
    if (src === "") break;
    if (src.startsWith("#")) {
      src = skipLine(src);
      continue;
    }
    if (src.startsWith("export ")) src = src.slice("export ".length).replace(/^\s+/, "");
    const km = /^([A-Za-z0-9_.\-]+)[ \t]*([=:])[ \t]*/.exec(src);
    if (!km) {
      const line = src.split("\n", 1)[0];
      throw new DotenvError(`unexpected character in line ${JSON.stringify(line)}`);
    }
    const key = km[1]!;
    src = src.slice(km[0].length);
    let value: string;
    const q = src[0];
    if (q === "'" || q === '"') {
      let end = 1;
      while (end < src.length) {
        if (src[end] === "\\" && q === '"') {
          end += 2;
          continue;
        }
        if (src[end] === q) break;
        end++;
      }
      if (end >= src.length) throw new DotenvError(`unterminated quoted value for ${key}`);
      const inner = src.slice(1, end);
      value = q === "'" ? inner : expand(unescapeDouble(inner), out);
      src = skipLine(src.slice(end + 1));
    } else {
      const nl = src.indexOf("\n");
      let line = nl < 0 ? src : src.slice(0, nl);
      src = nl < 0 ? "" : src.slice(nl + 1);
      const hash = line.search(/[ \t]#/);
      if (hash >= 0) line = line.slice(0, hash);
      value = expand(line.trim(), out);
    }
    out[key] = value;
  }
  return out;
}

function skipLine(s: string): string {
  const nl = s.indexOf("\n");
  return nl < 0 ? "" : s.slice(nl + 1);
}

function unescapeDouble(s: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => {
    switch (c) {
      case "n": return "\n";
      case "r": return "\r";
      case "t": return "\t";
      case "f": return "\f";
      case "v": return "\v";
      case "b": return "\b";
      case "a": return "\x07";
      default: return c;
    }
  });
}

function expand(v: string, vars: Record<string, string>): string {
  return v.replace(/(\\)?\$(\{)?([A-Za-z0-9_]+)?(\})?/g, (m, esc?: string, open?: string, name?: string) => {
    if (esc) return m.slice(1);
    if (!name) return m;
    if (open && !m.endsWith("}")) return m;
    return vars[name] ?? "";
  });
}
