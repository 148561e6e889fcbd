/**
 * Reads, from an emscripten-built WebAssembly binary (the tfjs wasm backend's), where its `sbrk` keeps the heap break:
 * the static addresses that the function calling the `env.emscripten_resize_heap` import both loads and stores with a
 * constant address (emscripten's `sbrk`, inlined into the allocator's `claim_more_memory`, loads the break, calls the
 * import when the new break is beyond the memory's size, then stores the new break), with each address's initial
 * value from the data section (for the break: `__heap_base`, where the heap starts).
 *
 * This only lists candidates; `heap_tracker.ts` keeps the one whose value the heap's regions prove to be the break.
 * @module
 */

/** One address the resize caller loads and stores, with its initial value. */
export interface BreakCandidate {
  /** Byte address of the 32-bit word in linear memory. */
  address: number;
  /** The word's initial value from the data section (0 when no data segment covers it). */
  initial: number;
}

/** What {@linkcode findBreakCandidates} found. */
export interface BinaryHeapInfo {
  /** The function index of the `env.emscripten_resize_heap` import, or -1 when the module has none. */
  resizeImport: number;
  /** Candidate addresses of the break word, in the order they first appear. */
  candidates: BreakCandidate[];
}

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly end = b.length) {}
  u8(): number {
    if (this.pos >= this.end) throw new RangeError("wasm binary: unexpected end");
    return this.b[this.pos++];
  }
  uleb(): number {
    let v = 0, shift = 0, byte;
    do {
      byte = this.u8();
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return v;
  }
  name(): string {
    const n = this.uleb();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  limits(): void {
    const flags = this.u8();
    this.uleb();
    if (flags & 1) this.uleb();
  }
}

/** Signed LEB128 at `b[i]`: [value, next index]. */
function sleb(b: Uint8Array, i: number, end: number): [number, number] {
  let v = 0, shift = 0, byte;
  do {
    if (i >= end) return [NaN, i];
    byte = b[i++];
    v |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80 && shift < 35);
  if (shift < 32 && byte & 0x40) v |= -1 << shift;
  return [v, i];
}

/** Unsigned LEB128 at `b[i]`: [value, next index]. */
function uleb(b: Uint8Array, i: number, end: number): [number, number] {
  let v = 0, shift = 0, byte;
  do {
    if (i >= end) return [NaN, i];
    byte = b[i++];
    v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80 && shift < 35);
  return [v, i];
}

const I32_CONST = 0x41, I32_LOAD = 0x28, I32_STORE = 0x36, LOCAL_GET = 0x20, CALL = 0x10;

/**
 * The break candidates of an emscripten module: the import index of `env.emscripten_resize_heap` and the constant
 * addresses that a function calling it both loads (`i32.const A; i32.load`) and stores
 * (`i32.const A; local.get; i32.store`). A byte-pattern scan, not a full decoder: a false match costs nothing,
 * since the tracker verifies each candidate against the heap.
 *
 * @example Usage
 * ```ts ignore
 * const info = findBreakCandidates(wasmBytes);
 * info.candidates; // e.g. [{ address: 23168, initial: 92032 }, ...] for tfjs-backend-wasm-simd.wasm 4.22.0
 * ```
 * @throws {RangeError} when the bytes are not a WebAssembly binary.
 */
export function findBreakCandidates(bytes: Uint8Array): BinaryHeapInfo {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new RangeError("Cannot read the wasm binary: it does not start with the WebAssembly magic number");
  }
  const r = new Reader(bytes);
  r.pos = 8;
  let funcImports = 0, resizeImport = -1;
  const bodies: [number, number][] = [];
  const data: { offset: number; start: number; end: number }[] = [];
  while (r.pos < bytes.length) {
    const id = r.u8(), size = r.uleb(), start = r.pos, end = start + size;
    if (id === 2) {
      for (let n = r.uleb(); n > 0; n--) {
        const mod = r.name(), field = r.name(), kind = r.u8();
        if (kind === 0) {
          r.uleb();
          if (mod === "env" && field === "emscripten_resize_heap") resizeImport = funcImports;
          funcImports++;
        } else if (kind === 1) {
          r.u8();
          r.limits();
        } else if (kind === 2) r.limits();
        else if (kind === 3) r.pos += 2;
        else if (kind === 4) r.pos += 1 + 1; // tag: attribute + type index (small)
      }
    } else if (id === 10) {
      for (let n = r.uleb(); n > 0; n--) {
        const len = r.uleb();
        bodies.push([r.pos, r.pos + len]);
        r.pos += len;
      }
    } else if (id === 11) {
      for (let n = r.uleb(); n > 0; n--) {
        const flags = r.uleb();
        let offset = -1;
        if (flags === 0 || flags === 2) {
          if (flags === 2) r.uleb();
          const op = r.u8();
          if (op === I32_CONST) {
            const [v, next] = sleb(bytes, r.pos, end);
            offset = v >>> 0;
            r.pos = next;
          }
          while (r.u8() !== 0x0b) { /* skip to the expression's end */ }
        }
        const len = r.uleb();
        if (offset >= 0) data.push({ offset, start: r.pos, end: r.pos + len });
        r.pos += len;
      }
    }
    r.pos = end;
  }
  const candidates: BreakCandidate[] = [];
  if (resizeImport < 0) return { resizeImport, candidates };
  const callBytes = [CALL, ...ulebBytes(resizeImport)];
  const initial = (address: number): number => {
    // Segments may stop short of trailing zero bytes: bytes past a segment's end are zero.
    let v = 0;
    for (const d of data) {
      for (let k = 0; k < 4; k++) {
        const at = address + k - d.offset;
        if (at >= 0 && at < d.end - d.start) v |= bytes[d.start + at] << (8 * k);
      }
    }
    return v >>> 0;
  };
  for (const [start, end] of bodies) {
    if (!contains(bytes, start, end, callBytes)) continue;
    const loads = new Set<number>(), stores = new Set<number>(), order: number[] = [];
    for (let i = start; i < end; i++) {
      if (bytes[i] !== I32_CONST) continue;
      const [a, j] = sleb(bytes, i + 1, end);
      if (!Number.isFinite(a) || a <= 0) continue;
      if (bytes[j] === I32_LOAD) {
        const [, k] = uleb(bytes, j + 1, end);
        const [off] = uleb(bytes, k, end);
        loads.add(a + off);
        order.push(a + off);
      } else if (bytes[j] === LOCAL_GET) {
        const [, k] = uleb(bytes, j + 1, end);
        if (bytes[k] === I32_STORE) {
          const [, m] = uleb(bytes, k + 1, end);
          const [off] = uleb(bytes, m, end);
          stores.add(a + off);
        }
      }
    }
    for (const a of order) {
      if (stores.has(a) && !candidates.some((c) => c.address === a)) {
        candidates.push({ address: a, initial: initial(a) });
      }
    }
  }
  return { resizeImport, candidates };
}

function ulebBytes(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function contains(b: Uint8Array, start: number, end: number, pat: number[]): boolean {
  outer: for (let i = start; i + pat.length <= end; i++) {
    for (let j = 0; j < pat.length; j++) if (b[i + j] !== pat[j]) continue outer;
    return true;
  }
  return false;
}
