// An in-memory stand-in for the Forgejo side of UpdateLog/UpdateTask/FetchTask,
// following the server rules of the protocol spec (ack index, overlap,
// archive on no_more, first-write outputs). Used by the unit tests of the
// reporter and the poller; the end-to-end tests use the HTTP emulator.

import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  Code, ConnectError, FetchTaskResponseSchema, Result, TaskSchema, UpdateLogResponseSchema, UpdateTaskResponseSchema,
  type ForgejoClient, type FetchTaskResponse, type Task, type UpdateLogInit, type UpdateTaskInit,
} from "../../src/protocol/index.js";

export interface StoredStep {
  result: Result;
  logIndex: number;
  logLength: number;
  startedAt: number;
  stoppedAt: number;
}

export interface Call {
  rpc: string;
  at: number;
  noMore?: boolean;
  rows?: number;
  result?: Result;
  stoppedAt?: number;
  requestKey?: string;
  tasksVersion?: bigint;
  capacity?: number;
}

export class FakeServer {
  rows: string[] = [];
  archived = false;
  result = Result.UNSPECIFIED;
  stoppedAt = 0;
  steps: StoredStep[] = [];
  outputs = new Map<string, string>();
  calls: Call[] = [];
  /** Answer with this result while the task runs (cancel signal). */
  remoteResult = Result.UNSPECIFIED;
  /** Fault injection: called before/after applying a call. */
  failBefore: (rpc: string) => boolean = () => false;
  dropAfter: (rpc: string) => boolean = () => false;
  /** Answer this Connect error instead of applying the call. */
  errorFor: (rpc: string) => ConnectError | undefined = () => undefined;
  /** Keys the server refuses to store until this many UpdateTask calls were made. */
  delayOutputsUntilCall = 0;
  // FetchTask side
  queue: Task[] = [];
  tasksVersion = 1n;
  declared: { version: string; labels: string[] }[] = [];
  declareError: ConnectError | undefined;
  assignedByKey = new Map<string, Task[]>();
  fetchDelayMs = 0;
  /** Forgejo 14.0.0/14.0.1: every task in additional_tasks, none in task. */
  additionalOnly = false;

  enqueueTask(id: number, payload = "jobs:\n  a:\n    steps:\n      - run: echo\n"): void {
    this.queue.push(create(TaskSchema, { id: BigInt(id), workflowPayload: new TextEncoder().encode(payload), context: {} }));
    this.tasksVersion++;
  }

  client(): ForgejoClient {
    const self = this;
    let lastContactAt = 0;
    const wrap = async <T>(rpc: string, apply: () => T): Promise<T> => {
      await Promise.resolve();
      if (self.failBefore(rpc)) throw new ConnectError("injected 503", Code.Unavailable);
      const answer = self.errorFor(rpc);
      if (answer) {
        self.calls.push({ rpc, at: Date.now() });
        throw answer;
      }
      lastContactAt = Date.now();
      const res = apply();
      if (self.dropAfter(rpc)) throw new ConnectError("injected dropped response", Code.Unavailable);
      return res;
    };
    return {
      baseUrl: "http://127.0.0.1:1/",
      codec: "proto",
      get lastContactAt() {
        return lastContactAt;
      },
      ping: async () => {
        throw new Error("not used");
      },
      register: async () => {
        throw new Error("not used");
      },
      declare: async (version, labels) =>
        wrap("Declare", () => {
          self.calls.push({ rpc: "Declare", at: Date.now() });
          if (self.declareError) throw self.declareError;
          self.declared.push({ version, labels });
          return {} as never;
        }),
      fetchTask: async (tasksVersion, opts) => {
        if (self.fetchDelayMs) await new Promise((r) => setTimeout(r, self.fetchDelayMs));
        return wrap("FetchTask", () => self.fetch(tasksVersion, opts.requestKey, opts.capacity ?? 1));
      },
      fetchSingleTask: async (opts) =>
        wrap("FetchSingleTask", () => {
          const r = self.fetch(0n, opts.requestKey, 1);
          return { task: r.task, tasksVersion: 0n } as never;
        }),
      updateLog: async (req) => wrap("UpdateLog", () => self.updateLog(req)),
      updateTask: async (req) => wrap("UpdateTask", () => self.updateTask(req)),
    };
  }

  private fetch(tasksVersion: bigint, key: string, capacity: number): FetchTaskResponse {
    this.calls.push({ rpc: "FetchTask", at: Date.now(), requestKey: key, tasksVersion, capacity });
    const prior = this.assignedByKey.get(key);
    if (prior) return create(FetchTaskResponseSchema, { task: prior[0], additionalTasks: prior.slice(1), tasksVersion: 0n });
    if (tasksVersion === this.tasksVersion) return create(FetchTaskResponseSchema, { tasksVersion: this.tasksVersion });
    const picked = this.queue.splice(0, Math.max(1, capacity));
    if (picked.length > 0) this.assignedByKey.set(key, picked);
    if (this.additionalOnly) return create(FetchTaskResponseSchema, { additionalTasks: picked, tasksVersion: this.tasksVersion });
    return create(FetchTaskResponseSchema, { task: picked[0], additionalTasks: picked.slice(1), tasksVersion: this.tasksVersion });
  }

  private updateLog(req: UpdateLogInit) {
    const rows = req.rows ?? [];
    const index = Number(req.index ?? 0n);
    this.calls.push({ rpc: "UpdateLog", at: Date.now(), noMore: req.noMore, rows: rows.length });
    const ack = this.rows.length;
    if (rows.length === 0 || index > ack || index + rows.length <= ack) {
      return create(UpdateLogResponseSchema, { ackIndex: BigInt(ack) });
    }
    if (this.archived) throw new ConnectError("log file has been archived", Code.AlreadyExists);
    for (const r of rows.slice(ack - index)) {
      if (!r.time) throw new Error("row without time");
      this.rows.push(r.content ?? "");
    }
    if (req.noMore) this.archived = true;
    return create(UpdateLogResponseSchema, { ackIndex: BigInt(this.rows.length) });
  }

  private updateTask(req: UpdateTaskInit) {
    const st = req.state!;
    const n = this.calls.filter((c) => c.rpc === "UpdateTask").length + 1;
    this.calls.push({
      rpc: "UpdateTask", at: Date.now(), result: st.result,
      stoppedAt: st.stoppedAt ? timestampMs(st.stoppedAt as never) : 0,
    });
    const done = this.result !== Result.UNSPECIFIED;
    if (!done) {
      if (st.result !== undefined && st.result !== Result.UNSPECIFIED) {
        this.result = st.result;
        this.stoppedAt = st.stoppedAt ? timestampMs(st.stoppedAt as never) : 0;
      }
      for (const s of st.steps ?? []) {
        const i = Number(s.id ?? 0n);
        this.steps[i] = {
          result: s.result ?? Result.UNSPECIFIED,
          logIndex: Number(s.logIndex ?? 0n),
          logLength: Number(s.logLength ?? 0n),
          startedAt: s.startedAt ? timestampMs(s.startedAt as never) : 0,
          stoppedAt: s.stoppedAt ? timestampMs(s.stoppedAt as never) : 0,
        };
      }
    }
    if (n > this.delayOutputsUntilCall) {
      for (const [k, v] of Object.entries(req.outputs ?? {})) {
        if (Buffer.byteLength(k) > 255 || Buffer.byteLength(v) > 1024 * 1024) continue;
        if (!this.outputs.has(k)) this.outputs.set(k, v);
      }
    }
    const result = this.result !== Result.UNSPECIFIED ? this.result : this.remoteResult;
    return create(UpdateTaskResponseSchema, { state: { id: st.id, result }, sentOutputs: [...this.outputs.keys()] });
  }
}
