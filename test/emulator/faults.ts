/** Fault injection rules, matched per RPC in the order they were added. */
import type { FaultRule } from "./types.js";

const KINDS = new Set(["drop", "drop-response", "http5xx", "latency", "reset", "oversize", "error"]);

export class FaultSet {
  private rules: FaultRule[] = [];
  /** How many times each kind fired, for tests. */
  readonly fired: Record<string, number> = {};

  constructor(initial: FaultRule[] = []) {
    for (const r of initial) this.add(r);
  }

  add(rule: FaultRule): void {
    if (!KINDS.has(rule.kind)) throw new Error(`unknown fault kind "${String(rule.kind)}"`);
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new Error("fault probability must be within 0..1");
    }
    if (rule.count !== undefined && !(Number.isInteger(rule.count) && rule.count >= 0)) {
      throw new Error("fault count must be a non-negative integer");
    }
    if (rule.bytes !== undefined && !(Number.isInteger(rule.bytes) && rule.bytes >= 0)) {
      throw new Error("fault bytes must be a non-negative integer");
    }
    this.rules.push({ ...rule });
  }

  clear(): void {
    this.rules = [];
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** The rule to apply to this call, if any (consumes one use of a counted rule). */
  match(rpc: string): FaultRule | undefined {
    const short = rpc.slice(rpc.lastIndexOf("/") + 1);
    for (const rule of this.rules) {
      if (rule.rpc !== undefined && rule.rpc !== rpc && rule.rpc !== short) continue;
      if (rule.count !== undefined && rule.count <= 0) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      if (rule.count !== undefined) rule.count--;
      this.fired[rule.kind] = (this.fired[rule.kind] ?? 0) + 1;
      return { ...rule };
    }
    return undefined;
  }
}
