// An Aho–Corasick automaton over UTF-16 code units, built once from a fixed
// set of patterns and kept in typed arrays. It reports for every text
// position only the longest pattern ending there: for masking, the shorter
// ones (its suffixes) are covered by it.
//
// The trie is built breadth first from the sorted patterns: nodes are
// numbered in breadth-first order and the children of a node are consecutive
// and sorted by character. The failure links are then computed in one pass
// over the nodes in memory order, and no hash table is needed: the build is
// linear in the patterns' length (after the sort) and touches memory mostly
// in order, which is what makes rebuilding a large set cheap.
//
// Clean text is mostly skipped: a Wu–Manber shift table over 4-character
// blocks of the patterns' first `m` characters (m = the shortest pattern,
// capped) tells how far no occurrence can start. Where it cannot rule one
// out, the automaton runs from the window's start until it reaches a state at
// most EXIT_DEPTH deep on characters it had not read before; skipping then
// resumes at that state's start. The automaton reads each character at most
// 1 + EXIT_DEPTH times, so a scan stays linear in the text whatever it holds;
// with few patterns it reads only a fraction of it.

const BLOCK = 4;
const MAX_WINDOW = 32;
/**
 * The shift table has about SHIFT_LOAD entries per block of the patterns'
 * windows (fewer collisions, longer shifts), within these bounds: small for
 * few patterns (it stays in cache and is cheap to build), at most 4 MiB.
 */
const SHIFT_LOAD = 4;
const MIN_SHIFT_BITS = 10;
const MAX_SHIFT_BITS = 22;
/** Entries of dense transition rows (4 bytes each). */
const DENSE_BUDGET = 1 << 21;
/** Children of a node without a dense row are searched linearly up to this many, else by bisection. */
const LINEAR_CHILDREN = 8;

function isSorted(xs: readonly string[]): boolean {
  for (let i = 1; i < xs.length; i++) if (xs[i - 1]! > xs[i]!) return false;
  return true;
}

function blockHash(a: number, b: number, c: number, d: number, bits: number): number {
  return Math.imul(a ^ (b << 8) ^ (c << 16) ^ (d << 24) ^ (d >>> 8), 0x9e3779b1) >>> (32 - bits);
}

// Node records, interleaved so one step touches one cache line.
const STRIDE = 6;
const F_FIRST = 0; // first child (children are consecutive)
const F_COUNT = 1; // number of children
const F_FAIL = 2;
const F_OUT = 3; // length of the longest pattern that is a suffix of the node's string (0: none)
const F_ROW = 4; // offset of the node's dense row, or NO_ROW
const F_DEPTH = 5;
/** The automaton hands back to skipping at a state this shallow (it re-reads at most that many characters). */
const EXIT_DEPTH = 2;
const NO_ROW = -1;

export class PatternAutomaton {
  /** Sum of the pattern lengths: the build cost, and the trie's size bound. */
  readonly chars: number;
  /** The root's full transition (0: stay at the root), for characters below rootLimit (others stay at the root). */
  private readonly rootNext: Int32Array;
  private readonly rootLimit: number;
  private readonly node: Int32Array;
  /** The character on the edge into each node. */
  private readonly edge: Uint16Array;
  /**
   * Branching nodes nearest the root (where the scan mostly is, with many
   * patterns) get a dense row over the patterns' alphabet holding the full
   * transition, failure links folded in, within DENSE_BUDGET.
   */
  private readonly charClass: Uint16Array;
  /** Characters from here on are in no pattern (class 0). */
  private readonly classLimit: number;
  private readonly dense: Int32Array;
  /** Window length for skipping; 0 when a pattern is shorter than a block. */
  private readonly window: number;
  private readonly shift: Uint8Array | undefined;
  private readonly shiftBits: number;

  /** The non-empty patterns, sorted by UTF-16 code units (as `Array.prototype.sort` sorts). */
  readonly patterns: readonly string[];

  constructor(patterns: readonly string[]) {
    const sorted = patterns.filter((p) => p.length > 0);
    if (!isSorted(sorted)) sorted.sort();
    this.patterns = sorted;
    let chars = 0;
    let shortest = Infinity;
    let longest = 0;
    for (const p of sorted) {
      chars += p.length;
      if (p.length < shortest) shortest = p.length;
      if (p.length > longest) longest = p.length;
    }
    this.chars = chars;
    // Tables indexed by character are as long as the largest character in a pattern needs.
    this.rootLimit = sorted.length > 0 ? sorted[sorted.length - 1]!.charCodeAt(0) + 1 : 0;
    this.rootNext = new Int32Array(this.rootLimit);

    // A pattern shares its first lcp characters (the longest common prefix
    // with the pattern before it) with the trie built so far and adds a node
    // at each depth after that; so the number of nodes at each depth is known
    // first, which gives each depth its range of breadth-first numbers.
    const lcp = new Int32Array(sorted.length);
    const perDepth = new Int32Array(longest + 2);
    for (let i = 0; i < sorted.length; i++) {
      const p = sorted[i]!;
      let l = 0;
      if (i > 0) {
        const q = sorted[i - 1]!;
        const n = Math.min(p.length, q.length);
        while (l < n && p.charCodeAt(l) === q.charCodeAt(l)) l++;
      }
      lcp[i] = l;
      if (l < p.length) {
        perDepth[l + 1]!++;
        perDepth[p.length + 1]!--;
      }
    }
    // nextId[d]: the next number for a node at depth d + 1.
    const nextId = new Int32Array(longest + 1);
    let nodes = 1;
    let atDepth = 0;
    for (let d = 0; d < longest; d++) {
      atDepth += perDepth[d + 1]!;
      nextId[d] = nodes;
      nodes += atDepth;
    }
    const node = new Int32Array(nodes * STRIDE);
    this.node = node;
    const edge = new Uint16Array(nodes);
    this.edge = edge;
    const parent = new Int32Array(nodes);
    const terminal = new Uint8Array(nodes);
    node[F_ROW] = NO_ROW;
    const path = new Int32Array(longest + 1); // the previous pattern's node at each depth
    let maxChar = 0;
    for (let i = 0; i < sorted.length; i++) {
      const p = sorted[i]!;
      for (let d = lcp[i]!; d < p.length; d++) {
        const u = path[d]!;
        const c = p.charCodeAt(d);
        const t = nextId[d]!++;
        const b = t * STRIDE;
        parent[t] = u;
        edge[t] = c;
        node[b + F_DEPTH] = d + 1;
        node[b + F_ROW] = NO_ROW;
        const count = node[u * STRIDE + F_COUNT]!;
        if (count === 0) node[u * STRIDE + F_FIRST] = t;
        node[u * STRIDE + F_COUNT] = count + 1;
        if (u === 0) this.rootNext[c] = t;
        if (c > maxChar) maxChar = c;
        path[d + 1] = t;
      }
      terminal[path[p.length]!] = 1;
    }

    this.window = shortest >= BLOCK && shortest !== Infinity ? Math.min(shortest, MAX_WINDOW) : 0;
    let bits = MIN_SHIFT_BITS;
    const blocks = sorted.length * Math.max(1, this.window - BLOCK + 1);
    while (bits < MAX_SHIFT_BITS && 1 << bits < blocks * SHIFT_LOAD) bits++;
    this.shiftBits = bits;
    if (this.window > 0) {
      const m = this.window;
      const shift = new Uint8Array(1 << this.shiftBits).fill(m - BLOCK + 1);
      for (const p of sorted) {
        for (let q = BLOCK; q <= m; q++) {
          const h = blockHash(p.charCodeAt(q - 4), p.charCodeAt(q - 3), p.charCodeAt(q - 2), p.charCodeAt(q - 1), this.shiftBits);
          if (m - q < shift[h]!) shift[h] = m - q;
        }
      }
      this.shift = shift;
    }

    this.classLimit = maxChar + 1;
    this.charClass = new Uint16Array(this.classLimit);
    let classes = 1;
    const classChar = [0];
    for (let v = 1; v < nodes; v++) {
      const c = edge[v]!;
      if (this.charClass[c] === 0) {
        this.charClass[c] = classes++;
        classChar.push(c);
      }
    }
    // Dense rows for the first branching nodes in breadth-first (= node) order.
    const rows = Math.min(Math.floor(DENSE_BUDGET / classes), nodes);
    let used = 0;
    for (let v = 1; v < nodes && used < rows; v++) if (node[v * STRIDE + F_COUNT]! > 1) used++;
    this.dense = new Int32Array(used * classes);
    let nextRow = 0;
    for (let v = 1; v < nodes; v++) {
      const b = v * STRIDE;
      const u = parent[v]!;
      const f = u === 0 ? 0 : this.step(node[u * STRIDE + F_FAIL]!, edge[v]!);
      node[b + F_FAIL] = f;
      node[b + F_OUT] = terminal[v] === 1 ? node[b + F_DEPTH]! : node[f * STRIDE + F_OUT]!;
      if (nextRow < used * classes && node[b + F_COUNT]! > 1) {
        const row = nextRow;
        nextRow += classes;
        const first = node[b + F_FIRST]!;
        const count = node[b + F_COUNT]!;
        for (let t = first; t < first + count; t++) this.dense[row + this.charClass[edge[t]!]!] = t;
        for (let k = 1; k < classes; k++) {
          if (this.dense[row + k] === 0) this.dense[row + k] = this.step(f, classChar[k]!);
        }
        node[b + F_ROW] = row;
      }
    }
  }

  /** The trie's goto function; 0 is "no edge" (the root is never a child). */
  private child(s: number, c: number): number {
    const b = s * STRIDE;
    const count = this.node[b + F_COUNT]!;
    if (count === 0) return 0;
    const first = this.node[b + F_FIRST]!;
    const edge = this.edge;
    if (count <= LINEAR_CHILDREN) {
      for (let t = first; t < first + count; t++) if (edge[t] === c) return t;
      return 0;
    }
    let lo = first;
    let hi = first + count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = edge[mid]!;
      if (e === c) return mid;
      if (e < c) lo = mid + 1;
      else hi = mid;
    }
    return 0;
  }

  /** The automaton's transition: a dense row, or goto with failure links on a miss. */
  private step(s: number, c: number): number {
    const node = this.node;
    for (;;) {
      if (s === 0) return c < this.rootLimit ? this.rootNext[c]! : 0;
      const b = s * STRIDE;
      const row = node[b + F_ROW]!;
      if (row >= 0) return this.dense[row + (c < this.classLimit ? this.charClass[c]! : 0)]!;
      const t = this.child(s, c);
      if (t !== 0) return t;
      s = node[b + F_FAIL]!;
    }
  }

  /**
   * Appends to `out` the ranges of text[start, end) covered by any pattern,
   * as flat [start, end) pairs of positions in `text`, sorted and merged
   * (ranges that touch are merged).
   */
  scan(text: string, out: number[], start = 0, end = text.length): void {
    const base = out.length;
    const rootNext = this.rootNext;
    const rootLimit = this.rootLimit;
    const node = this.node;
    const shift = this.shift;
    const m = this.window;
    const bits = this.shiftBits;
    const n = end;
    let i = start;
    /** Characters before this were read by the automaton. */
    let readTo = start;
    for (;;) {
      if (shift !== undefined) {
        // Skipping: the window is [pos - m + 1, pos]; no occurrence starts before it.
        let pos = i + m - 1;
        for (;;) {
          if (pos >= n) return;
          const d = shift[blockHash(text.charCodeAt(pos - 3), text.charCodeAt(pos - 2), text.charCodeAt(pos - 1), text.charCodeAt(pos), bits)]!;
          if (d === 0) break;
          pos += d;
        }
        i = pos - m + 1;
      }
      // The automaton from the root at i, until it is back at a shallow
      // state past every character it read before: no occurrence can start
      // before that state's string, so skipping resumes at its start.
      let s = 0;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        s = s === 0 ? (c < rootLimit ? rootNext[c]! : 0) : this.step(s, c);
        const b = s * STRIDE;
        const len = node[b + F_OUT]!;
        // A character read again after a hand-back: what ends there is recorded already.
        if (len !== 0 && i >= readTo) {
          let from = i + 1 - len;
          let k = out.length;
          while (k > base && out[k - 1]! >= from) {
            if (out[k - 2]! < from) from = out[k - 2]!;
            k -= 2;
          }
          out.length = k;
          out.push(from, i + 1);
        }
        if (shift !== undefined && i >= readTo && node[b + F_DEPTH]! <= EXIT_DEPTH) {
          readTo = i + 1;
          i -= node[b + F_DEPTH]!;
          break;
        }
      }
      if (i >= n) return;
      i++;
    }
  }
}
