// `token_url` / `secret_url` values: only `file:` URLs, with the systemd
// credentials placeholder `$CREDENTIALS_DIRECTORY` expanded from the
// environment (https://systemd.io/CREDENTIALS/).

import { readFileSync } from "node:fs";

export function resolveSecretUrl(input: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!input.startsWith("file:")) {
    throw new Error(`unsupported secret URL ${JSON.stringify(input)} (only file: URLs are supported)`);
  }
  let expanded = input;
  const creds = env.CREDENTIALS_DIRECTORY;
  if (creds !== undefined) expanded = expanded.replace("$CREDENTIALS_DIRECTORY", creds);
  if (expanded.includes("$CREDENTIALS_DIRECTORY")) {
    throw new Error(`${JSON.stringify(input)} uses $CREDENTIALS_DIRECTORY but that variable is not set`);
  }
  const path = filePath(expanded);
  let value: string;
  try {
    value = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read secret ${JSON.stringify(input)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // A file written by `echo` or an editor ends with a newline that is not part of the secret.
  return value.replace(/[\r\n]+$/, "");
}

// file:/abs, file:///abs, file://host/abs (host ignored, as forgejo-runner does), file:relative.
function filePath(url: string): string {
  let rest = url.slice("file:".length);
  if (rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    rest = slash < 0 ? "/" : rest.slice(slash);
  }
  try {
    return decodeURIComponent(rest);
  } catch {
    return rest;
  }
}
