// An Aho–Corasick automaton over UTF-16 code units, built once from a fixed
// set of patterns and kept in typed arrays. It reports for every text
// position only the longest pattern ending there: for masking, the shorter
// ones (its suffixes) are covered by it.
//
// Clean text is mostly skipped: a Wu–Manber shift table over 4-character
// blocks of the patterns' first `m` characters (m = the shortest pattern,
// capped) tells how far no occurrence can start. Where it cannot rule one
// out, the automaton runs from the window's start until it reaches a state at
// most EXIT_DEPTH deep on characters it had not read before; skipping then
// resumes at that state's start. The automaton reads each character at most
// 1 + EXIT_DEPTH times, so a scan stays linear in the text whatever it holds;
// with few patterns it reads only a fraction of it.

const EMPTY = 0;
const BLOCK = 4;
const MAX_WINDOW = 32;
/** Shift table sizes: small for few patterns (it stays in cache), large for many (fewer collisions). */
const SMALL_SHIFT_BITS = 16;
const LARGE_SHIFT_BITS = 18;
/** Entries of dense transition rows (4 bytes each). */
const DENSE_BUDGET = 1 << 21;

function blockHash(a: number, b: number, c: number, d: number, bits: number): number {
  return ((Math.imul((Math.imul((Math.imul(a, 31) + b) | 0, 31) + c) | 0, 0x9e3779b1) + d) >>> (32 - bits)) ^ (d & ((1 << bits) - 1));
}

// Node records, interleaved so one step touches one cache line.
const STRIDE = 6;
const F_CHAR = 0; // first child's character, -1: none
const F_CHILD = 1; // first child
const F_FAIL = 2;
const F_OUT = 3; // length of the longest pattern that is a suffix of the node's string (0: none)
const F_ROW = 4; // offset of the node's dense row; NO_ROW, or MORE_CHILDREN (in the hash table)
const F_DEPTH = 5;
/** The automaton hands back to skipping at a state this shallow (it re-reads at most that many characters). */
const EXIT_DEPTH = 2;
const NO_ROW = -1;
const MORE_CHILDREN = -2;

export class PatternAutomaton {
  /** Sum of the pattern lengths: the build cost, and the trie's size bound. */
  readonly chars: number;
  /** The root's full transition (0: stay at the root). */
  private readonly rootNext = new Int32Array(65536);
  private readonly node: Int32Array;
  private readonly hParent: Int32Array;
  private readonly hChar: Uint16Array;
  private readonly hChild: Int32Array;
  private readonly hMask: number;
  /**
   * Branching nodes nearest the root (where the scan mostly is, with many
   * patterns) get a dense row over the patterns' alphabet holding the full
   * transition, failure links folded in, within DENSE_BUDGET.
   */
  private readonly charClass = new Uint16Array(65536);
  private readonly dense: Int32Array;
  /** Window length for skipping; 0 when a pattern is shorter than a block. */
  private readonly window: number;
  private readonly shift: Uint8Array | undefined;
  private readonly shiftBits: number;

  constructor(readonly patterns: readonly string[]) {
    let chars = 0;
    for (const p of patterns) chars += p.length;
    this.chars = chars;
    const maxNodes = chars + 1;
    let size = 16;
    while (size < maxNodes * 2) size *= 2;
    this.hMask = size - 1;
    this.hParent = new Int32Array(size);
    this.hChar = new Uint16Array(size);
    this.hChild = new Int32Array(size);
    const node = new Int32Array(maxNodes * STRIDE);
    this.node = node;
    for (let v = 0; v < maxNodes; v++) {
      node[v * STRIDE + F_CHAR] = -1;
      node[v * STRIDE + F_ROW] = NO_ROW;
    }
    const parent = new Int32Array(maxNodes);
    const edge = new Uint16Array(maxNodes);
    const depth = new Int32Array(maxNodes);
    const terminal = new Uint8Array(maxNodes);

    let nodes = 1;
    let maxDepth = 0;
    let shortest = Infinity;
    for (const p of patterns) {
      if (p.length === 0) continue;
      let s = 0;
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        let t = this.child(s, c);
        if (t === 0) {
          t = nodes++;
          parent[t] = s;
          edge[t] = c;
          depth[t] = i + 1;
          node[t * STRIDE + F_DEPTH] = i + 1;
          this.addChild(s, c, t);
        }
        s = t;
      }
      terminal[s] = 1;
      if (p.length > maxDepth) maxDepth = p.length;
      if (p.length < shortest) shortest = p.length;
    }

    this.shiftBits = chars > 1 << 16 ? LARGE_SHIFT_BITS : SMALL_SHIFT_BITS;
    this.window = shortest >= BLOCK && shortest !== Infinity ? Math.min(shortest, MAX_WINDOW) : 0;
    if (this.window > 0) {
      const m = this.window;
      const shift = new Uint8Array(1 << this.shiftBits).fill(m - BLOCK + 1);
      for (const p of patterns) {
        for (let q = BLOCK; q <= m; q++) {
          const h = blockHash(p.charCodeAt(q - 4), p.charCodeAt(q - 3), p.charCodeAt(q - 2), p.charCodeAt(q - 1), this.shiftBits);
          if (m - q < shift[h]!) shift[h] = m - q;
        }
      }
      this.shift = shift;
    }

    // Breadth-first order (counting sort by depth): a node's failure link
    // points to a shallower node, which is then already done.
    const perDepth = new Int32Array(maxDepth + 2);
    for (let v = 1; v < nodes; v++) perDepth[depth[v]! + 1]!++;
    for (let d = 1; d <= maxDepth + 1; d++) perDepth[d]! += perDepth[d - 1]!;
    const order = new Int32Array(nodes - 1);
    for (let v = 1; v < nodes; v++) order[perDepth[depth[v]!]!++] = v;

    let classes = 1;
    const classChar = [0];
    for (let v = 1; v < nodes; v++) {
      const c = edge[v]!;
      if (this.charClass[c] === 0) {
        this.charClass[c] = classes++;
        classChar.push(c);
      }
    }
    const rows = Math.min(Math.floor(DENSE_BUDGET / classes), nodes);
    const rowOf = new Int32Array(nodes).fill(-1);
    let used = 0;
    for (let k = 0; k < order.length && used < rows; k++) {
      const v = order[k]!;
      if (node[v * STRIDE + F_ROW] === MORE_CHILDREN) rowOf[v] = classes * used++;
    }
    this.dense = new Int32Array(used * classes);
    for (let v = 1; v < nodes; v++) {
      const row = rowOf[parent[v]!]!;
      if (row >= 0) this.dense[row + this.charClass[edge[v]!]!] = v;
    }
    // Rows take effect once filled (below), so goto lookups see children until then.
    for (let k = 0; k < order.length; k++) {
      const v = order[k]!;
      const u = parent[v]!;
      const f = u === 0 ? 0 : this.step(node[u * STRIDE + F_FAIL]!, edge[v]!);
      node[v * STRIDE + F_FAIL] = f;
      node[v * STRIDE + F_OUT] = terminal[v] === 1 ? depth[v]! : node[f * STRIDE + F_OUT]!;
      const row = rowOf[v]!;
      if (row >= 0) {
        for (let k2 = 1; k2 < classes; k2++) {
          if (this.dense[row + k2] === 0) this.dense[row + k2] = this.step(f, classChar[k2]!);
        }
        node[v * STRIDE + F_ROW] = row;
      }
    }
  }

  private addChild(s: number, c: number, t: number): void {
    const b = s * STRIDE;
    if (s === 0) {
      this.rootNext[c] = t;
    } else if (this.node[b + F_CHAR] === -1) {
      this.node[b + F_CHAR] = c;
      this.node[b + F_CHILD] = t;
    } else {
      this.node[b + F_ROW] = MORE_CHILDREN;
      let h = this.slot(s, c);
      while (this.hParent[h] !== EMPTY) h = (h + 1) & this.hMask;
      this.hParent[h] = s;
      this.hChar[h] = c;
      this.hChild[h] = t;
    }
  }

  private slot(s: number, c: number): number {
    return ((Math.imul(s, 0x9e3779b1) ^ Math.imul(c + 1, 0x85ebca6b)) >>> 0) & this.hMask;
  }

  /** The trie's goto function; 0 is "no edge" (the root is never a child). */
  private child(s: number, c: number): number {
    if (s === 0) return this.rootNext[c]!;
    const b = s * STRIDE;
    if (this.node[b + F_CHAR] === c) return this.node[b + F_CHILD]!;
    if (this.node[b + F_ROW] !== MORE_CHILDREN) return 0;
    return this.hashed(s, c);
  }

  private hashed(s: number, c: number): number {
    const mask = this.hMask;
    const hp = this.hParent;
    let h = this.slot(s, c);
    for (;;) {
      const p = hp[h]!;
      if (p === EMPTY) return 0;
      if (p === s && this.hChar[h] === c) return this.hChild[h]!;
      h = (h + 1) & mask;
    }
  }

  /** The automaton's transition: a dense row, or goto with failure links on a miss. */
  private step(s: number, c: number): number {
    const node = this.node;
    for (;;) {
      if (s === 0) return this.rootNext[c]!;
      const b = s * STRIDE;
      const row = node[b + F_ROW]!;
      if (row >= 0) return this.dense[row + this.charClass[c]!]!;
      if (node[b + F_CHAR] === c) return node[b + F_CHILD]!;
      if (row === MORE_CHILDREN) {
        const t = this.hashed(s, c);
        if (t !== 0) return t;
      }
      s = node[b + F_FAIL]!;
    }
  }

  /**
   * The ranges of `text` covered by any pattern, as flat [start, end) pairs,
   * sorted and merged (ranges that touch are merged).
   */
  scan(text: string): number[] {
    const ranges: number[] = [];
    const rootNext = this.rootNext;
    const node = this.node;
    const shift = this.shift;
    const m = this.window;
    const bits = this.shiftBits;
    const n = text.length;
    let i = 0;
    /** Characters before this were read by the automaton. */
    let readTo = 0;
    for (;;) {
      if (shift !== undefined) {
        // Skipping: the window is [pos - m + 1, pos]; no occurrence starts before it.
        let pos = i + m - 1;
        for (;;) {
          if (pos >= n) return ranges;
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
        s = s === 0 ? rootNext[c]! : this.step(s, c);
        const b = s * STRIDE;
        const len = node[b + F_OUT]!;
        // A character read again after a hand-back: what ends there is recorded already.
        if (len !== 0 && i >= readTo) {
          let start = i + 1 - len;
          let k = ranges.length;
          while (k > 0 && ranges[k - 1]! >= start) {
            if (ranges[k - 2]! < start) start = ranges[k - 2]!;
            k -= 2;
          }
          ranges.length = k;
          ranges.push(start, i + 1);
        }
        if (shift !== undefined && i >= readTo && node[b + F_DEPTH]! <= EXIT_DEPTH) {
          readTo = i + 1;
          i -= node[b + F_DEPTH]!;
          break;
        }
      }
      if (i >= n) return ranges;
      i++;
    }
  }
}
