// `::name key=value,...::message` commands written to a step's stdout, as a
// table of small handlers. A handler that throws fails the step (the message
// is logged); it never stops the job.

export interface ParsedCommand {
  name: string;
  properties: Record<string, string>;
  message: string;
}

/** What a command handler may do to the running step. */
export interface CommandTarget {
  log(line: string): void;
  addMask(value: string): void;
  annotate(level: "notice" | "warning" | "error", message: string, props: Record<string, string>): void;
  debugEnabled(): boolean;
  setOutput(name: string, value: string): void;
  saveState(name: string, value: string): void;
  setEnv(name: string, value: string): void;
  addPath(path: string): void;
  /** ACTIONS_ALLOW_UNSECURE_COMMANDS=true in the step's environment. */
  unsecureAllowed(): boolean;
  stopCommands(token: string): void;
  setEcho(on: boolean): void;
}

export class CommandError extends Error {}

type Handler = (cmd: ParsedCommand, t: CommandTarget) => void;

const SET_OUTPUT_DEPRECATED =
  "The `set-output` command is deprecated and will be disabled soon. Please upgrade to using Environment Files. For more information see: https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/";
const SAVE_STATE_DEPRECATED =
  "The `save-state` command is deprecated and will be disabled soon. Please upgrade to using Environment Files. For more information see: https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/";

function unsecure(name: string): string {
  return `The \`${name}\` command is disabled. Please upgrade to using Environment Files or opt into unsecure command execution by setting the \`ACTIONS_ALLOW_UNSECURE_COMMANDS\` environment variable to \`true\`. For more information see: https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/`;
}

function requireName(cmd: ParsedCommand): string {
  const name = cmd.properties["name"];
  if (!name) throw new CommandError(`Required field 'name' is missing in ${cmd.name} command.`);
  return name;
}

export const WORKFLOW_COMMANDS: Record<string, Handler> = {
  "add-mask": (cmd, t) => {
    if (cmd.message.trim() === "") t.log("##[warning]Can't add secret mask for empty string in ##[add-mask] command.");
    else t.addMask(cmd.message);
  },
  group: (cmd, t) => t.log(`##[group]${cmd.message}`),
  endgroup: (_cmd, t) => t.log("##[endgroup]"),
  debug: (cmd, t) => {
    if (!t.debugEnabled()) return;
    for (const line of cmd.message.split(/\r?\n/)) t.log(`##[debug]${line}`);
  },
  notice: (cmd, t) => t.annotate("notice", cmd.message, cmd.properties),
  warning: (cmd, t) => t.annotate("warning", cmd.message, cmd.properties),
  error: (cmd, t) => t.annotate("error", cmd.message, cmd.properties),
  "set-output": (cmd, t) => {
    t.annotate("warning", SET_OUTPUT_DEPRECATED, {});
    t.setOutput(requireName(cmd), cmd.message);
  },
  "save-state": (cmd, t) => {
    t.annotate("warning", SAVE_STATE_DEPRECATED, {});
    t.saveState(requireName(cmd), cmd.message);
  },
  "set-env": (cmd, t) => {
    if (!t.unsecureAllowed()) throw new CommandError(unsecure("set-env"));
    t.setEnv(requireName(cmd), cmd.message);
  },
  "add-path": (cmd, t) => {
    if (!t.unsecureAllowed()) throw new CommandError(unsecure("add-path"));
    t.addPath(cmd.message);
  },
  "stop-commands": (cmd, t) => {
    if (cmd.message === "") throw new CommandError("Invalid stop-commands token: the token must not be empty.");
    t.stopCommands(cmd.message);
  },
  echo: (cmd, t) => {
    const v = cmd.message.trim().toLowerCase();
    if (v === "on") t.setEcho(true);
    else if (v === "off") t.setEcho(false);
    else throw new CommandError(`Invalid echo command value. Possible values can be: 'on', 'off'. Current value is: '${cmd.message}'.`);
  },
  // Problem matchers are not implemented; accepted so the line is not logged as text.
  "add-matcher": () => {},
  "remove-matcher": () => {},
};

/** Parses `::name props::message`; only names in `known` count as commands. */
export function parseCommand(line: string, known: ReadonlySet<string> | Record<string, unknown>): ParsedCommand | undefined {
  const text = line.trimStart();
  if (!text.startsWith("::")) return undefined;
  const end = text.indexOf("::", 2);
  if (end < 0) return undefined;
  const info = text.slice(2, end);
  const space = info.indexOf(" ");
  const written = space < 0 ? info : info.slice(0, space);
  // Command names are case-insensitive (GitHub documents it); report the registered spelling.
  const lower = written.toLowerCase();
  const names = known instanceof Set ? [...known] : Object.keys(known);
  const name = names.find((k) => k === written) ?? names.find((k) => k.toLowerCase() === lower);
  if (name === undefined) return undefined;
  const properties: Record<string, string> = {};
  if (space > 0) {
    for (const part of info.slice(space + 1).trim().split(",")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      if (eq <= 0 || eq === part.length - 1) continue;
      properties[part.slice(0, eq).toLowerCase()] = unescapeProperty(part.slice(eq + 1));
    }
  }
  return { name, properties, message: unescapeData(text.slice(end + 2)) };
}

export function unescapeData(s: string): string {
  return s.replaceAll("%0D", "\r").replaceAll("%0A", "\n").replaceAll("%25", "%");
}

export function unescapeProperty(s: string): string {
  return s
    .replaceAll("%0D", "\r")
    .replaceAll("%0A", "\n")
    .replaceAll("%3A", ":")
    .replaceAll("%2C", ",")
    .replaceAll("%25", "%");
}
