/**
 * The fused-kernel registry: any module registers a fused wasm kernel together with its stock fallback (plain tfjs
 * ops) as one op with {@linkcode fusedOp}, and callers just call the op; the registry picks the implementation.
 *
 * - Fused (one `Memtrain*` kernel on the wasm heap) when {@linkcode fusedActive}: the kernels are installed, the
 *   active tfjs backend is wasm (so wasm or blas), the options allow them (`backendOptions().fused`, the op's group
 *   not in `fusedOff`), the op's own `accepts` check passes, and no gradient tape is recording.
 * - Stock otherwise. The fused kernels have no tfjs gradients on purpose: under `tf.grads` the stock differentiable
 *   ops run, so tfjs autodiff stays an independent oracle for the layers' explicit backward.
 *
 * How registration meets import order: owners call `fusedOp` at module level (`lib/nn/kernels/*`,
 * `lib/mesa/quantize.ts`, `lib/optim/adam_kernel.ts`, `lib/train/finite_kernel.ts`), so an op is in the registry as
 * soon as the module that calls it is imported. The backend imports no owner: `patchWasm` (run by `initBackend` once
 * the wasm backend is active) calls {@linkcode installFusedKernels}, which registers every op so far with the tfjs
 * engine; an op registered after that (a module imported later) is installed on the spot. Either order works, and an op
 * whose kernel is not installed simply runs stock.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { backendOptions } from "./options.ts";

/** Runs the op's kernel on the engine with these inputs and attributes. */
export type RunKernel = <T extends tf.Tensor | tf.Tensor[]>(
  inputs: Record<string, tf.Tensor>,
  attrs?: Record<string, unknown>,
) => T;

/** What {@linkcode fusedOp} takes. */
export interface FusedOpSpec<A extends unknown[], R> {
  /** The tfjs kernel name (backend "wasm"), `Memtrain…`. */
  readonly name: string;
  /**
   * The switch group (`"nn"`, `"mesa"`, `"optim"`, `"guard"`): `BackendOptions.fusedOff` can turn a group off alone.
   */
  readonly group: string;
  /**
   * Makes the wasm kernel function. Called once, when the kernels are installed (the wasm backend is loaded, so it may
   * look up stock wasm kernels such as `Sigmoid`).
   */
  readonly kernel: () => tf.KernelFunc;
  /** The op through its kernel: `run(inputs, attrs)` runs {@linkcode FusedOpSpec.name} on the engine. */
  readonly fused: (run: RunKernel, ...args: A) => R;
  /** The op as plain tfjs ops (differentiable; every other backend, under a tape, or switched off). */
  readonly stock: (...args: A) => R;
  /** Extra condition for the fused path (dtypes, shapes). @default {always} */
  readonly accepts?: (...args: A) => boolean;
}

/** An op made by {@linkcode fusedOp}: call it like a function. */
export interface FusedOp<A extends unknown[], R> {
  (...args: A): R;
  /** The kernel name. */
  readonly kernelName: string;
  /** The switch group. */
  readonly group: string;
  /** True when a call now would run the fused kernel (before the op's `accepts` check). */
  active(): boolean;
}

interface Entry {
  readonly name: string;
  readonly group: string;
  readonly kernel: () => tf.KernelFunc;
}

interface RegistryState {
  readonly entries: Map<string, Entry>;
  installed: boolean;
}

/** One registry per process (also when this module is loaded twice under different URLs). */
const STATE = Symbol.for("memtrain.fusedKernelRegistry");
const state: RegistryState = ((globalThis as Record<symbol, RegistryState | undefined>)[STATE] ??= {
  entries: new Map(),
  installed: false,
});

interface EngineLike {
  backendName: string;
  isTapeOn(): boolean;
}

/**
 * True when a fused kernel (of `group`, when given) runs now: the kernels are installed, the options allow them, the
 * active backend is wasm (wasm or blas), and no gradient tape is recording.
 *
 * @example Usage
 * ```ts
 * import { fusedActive } from "./registry.ts";
 * fusedActive("nn"); // false before initBackend (no kernels installed), and always under tf.grads
 * ```
 */
export function fusedActive(group?: string): boolean {
  if (!state.installed) return false;
  const o = backendOptions();
  if (!o.fused || (group !== undefined && o.fusedOff.length > 0 && o.fusedOff.includes(group))) return false;
  const engine = tf.engine() as unknown as EngineLike;
  return engine.backendName === "wasm" && !engine.isTapeOn();
}

/**
 * Runs a kernel through the engine (tracked, profiled and tidied like any tfjs op).
 *
 * @example Usage
 * ```ts ignore
 * const [min, max] = runFused<tf.Tensor[]>("MemtrainMesaMinMax", { x }, { pre: 1, groups: 1, rest: x.size });
 * ```
 */
export function runFused<T extends tf.Tensor | tf.Tensor[]>(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): T {
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as T;
}

function install(entry: Entry): void {
  const kernelFunc = entry.kernel();
  if (tf.getKernel(entry.name, "wasm") !== undefined) tf.unregisterKernel(entry.name, "wasm");
  tf.registerKernel({ kernelName: entry.name, backendName: "wasm", kernelFunc });
}

/**
 * Registers a fused kernel and its stock fallback as one op. Call it at module level in the kernel's owner. A second
 * registration under the same name replaces the first.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { fusedOp } from "./registry.ts";
 *
 * type Args = Parameters<tf.KernelFunc>[0];
 * const double = fusedOp({
 *   name: "ExampleDouble",
 *   group: "example",
 *   kernel: () => (args: Args) => {
 *     const be = args.backend as unknown as { makeOutput(s: number[], d: string): tf.TensorInfo };
 *     const x = args.inputs.x as tf.TensorInfo;
 *     const read = (t: tf.TensorInfo) =>
 *       (args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array }).typedArrayFromHeap(t);
 *     const y = be.makeOutput(x.shape.slice(), "float32");
 *     read(y).set(read(x).map((v) => 2 * v));
 *     return y;
 *   },
 *   fused: (run, x: tf.Tensor) => run<tf.Tensor>({ x }),
 *   stock: (x: tf.Tensor) => tf.mul(x, 2),
 * });
 * const y = double(tf.tensor1d([1, 2])); // the kernel on wasm/blas after initBackend, tf.mul elsewhere
 * console.log(y.dataSync()); // Float32Array [2, 4]
 * ```
 */
export function fusedOp<A extends unknown[], R>(spec: FusedOpSpec<A, R>): FusedOp<A, R> {
  const { name, group, fused, stock, accepts } = spec;
  if (typeof name !== "string" || name === "" || typeof group !== "string" || group === "") {
    throw new TypeError(
      `Cannot register a fused op: 'name' and 'group' must be non-empty strings: current values are ` +
        `${JSON.stringify(name)}, ${JSON.stringify(group)}`,
    );
  }
  const entry: Entry = { name, group, kernel: spec.kernel };
  state.entries.set(name, entry);
  if (state.installed) install(entry);
  const run: RunKernel = (inputs, attrs) => runFused(name, inputs, attrs);
  const op = (...args: A): R =>
    fusedActive(group) && (accepts === undefined || accepts(...args)) ? fused(run, ...args) : stock(...args);
  return Object.assign(op, { kernelName: name, group, active: () => fusedActive(group) });
}

/**
 * Registers every op's kernel with the tfjs engine for the wasm backend (idempotent; later ops install on
 * registration). Called by `patchWasm`; needs the wasm backend imported.
 *
 * @example Usage
 * ```ts ignore
 * await tf.setBackend("wasm");
 * installFusedKernels(); // what patchWasm does
 * ```
 */
export function installFusedKernels(): void {
  if (state.installed) return;
  for (const entry of state.entries.values()) install(entry);
  state.installed = true;
}

/**
 * The registered kernels as `{ name, group }`, in registration order (for tests and profiles).
 *
 * @example Usage
 * ```ts
 * import { fusedKernels } from "./registry.ts";
 * console.log(fusedKernels().map((k) => k.name)); // e.g. ["MemtrainGelu", ...] once lib/nn is imported
 * ```
 */
export function fusedKernels(): { name: string; group: string }[] {
  return [...state.entries.values()].map(({ name, group }) => ({ name, group }));
}

/** True once {@linkcode installFusedKernels} has run. */
export function fusedKernelsInstalled(): boolean {
  return state.installed;
}
