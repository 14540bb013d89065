/**
 * What a worker thread of the pool runs. {@link workerProgram} is sent to the worker as source
 * text (`String(workerProgram)`), so it must not refer to anything outside its own body: the
 * layout of the control memory arrives in its first message.
 *
 * Protocol (all through the control `SharedArrayBuffer`, `Int32Array` words at the offsets of
 * {@link CONTROL}; the calls of a job are float64 words, one slot per worker):
 * 1. `{ start }`: the worker keeps the control memory and its slot and answers `'ready'`.
 * 2. `{ load }`: it instantiates the WebAssembly module on the shared memory (`failed` set when it
 *    cannot), adds 1 to `loaded`,
 *    and waits (`Atomics.wait`) for `seq` to change. Each change is a job: `op` 1 runs the calls
 *    of its slot (`count`, then per call an export index and 8 arguments), sets `failed` on an
 *    error, subtracts 1 from `pending` (waking the caller at 0); `op` 2 unloads: it subtracts 1
 *    from `loaded` and returns to its event loop (a later `{ load }` may come).
 */

/** Word offsets in the control memory's `Int32Array`, and the shape of a slot of calls. */
export const CONTROL = {
  seq: 0,
  op: 1,
  pending: 2,
  failed: 3,
  loaded: 4,
  /** Bytes of `Int32Array` words before the slots. */
  headerBytes: 64,
  /** Calls per slot, and float64 words per call (an export index and 8 arguments). */
  callsPerSlot: 4,
  wordsPerCall: 9,
} as const;

export const OP_RUN = 1;
export const OP_UNLOAD = 2;

/** Float64 words of one worker's slot: a count, then its calls. */
export const SLOT_WORDS = 1 + CONTROL.callsPerSlot * CONTROL.wordsPerCall;

/** The messages a worker receives. */
export type WorkerMessage =
  | { start: { control: SharedArrayBuffer; slot: number; layout: typeof CONTROL; slotWords: number; opRun: number; opUnload: number } }
  | { load: { module: WebAssembly.Module; memory: WebAssembly.Memory; exports: string[] } };

/** How a worker talks to its creator (Node's `parentPort` or a browser worker's global scope). */
export interface WorkerPort {
  listen(handler: (message: WorkerMessage) => void): void;
  post(message: string): void;
}

/** The body of a worker thread (self-contained: see the module comment). */
export function workerProgram(port: WorkerPort): void {
  let head: Int32Array;
  let calls: Float64Array;
  let layout: typeof CONTROL;
  let opRun = 0;
  let opUnload = 0;
  port.listen((message) => {
    if ('start' in message) {
      const start = message.start;
      layout = start.layout;
      opRun = start.opRun;
      opUnload = start.opUnload;
      head = new Int32Array(start.control, 0, layout.headerBytes / 4);
      calls = new Float64Array(start.control, layout.headerBytes + start.slot * start.slotWords * 8, start.slotWords);
      port.post('ready');
      return;
    }
    const { module, memory, exports } = message.load;
    let seen = Atomics.load(head, layout.seq);
    let table: ((...args: number[]) => void)[];
    try {
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      table = exports.map((name) => instance.exports[name] as (...args: number[]) => void);
    } catch {
      Atomics.store(head, layout.failed, 1);
      Atomics.add(head, layout.loaded, 1);
      Atomics.notify(head, layout.loaded);
      return;
    }
    Atomics.add(head, layout.loaded, 1);
    Atomics.notify(head, layout.loaded);
    for (;;) {
      Atomics.wait(head, layout.seq, seen);
      seen = Atomics.load(head, layout.seq);
      const op = Atomics.load(head, layout.op);
      if (op === opUnload) break;
      if (op === opRun) {
        try {
          for (let c = 0, at = 1; c < calls[0]; c++, at += layout.wordsPerCall) {
            table[calls[at]](calls[at + 1], calls[at + 2], calls[at + 3], calls[at + 4], calls[at + 5], calls[at + 6], calls[at + 7], calls[at + 8]);
          }
        } catch {
          Atomics.store(head, layout.failed, 1);
        }
      }
      if (Atomics.sub(head, layout.pending, 1) === 1) Atomics.notify(head, layout.pending);
    }
    Atomics.sub(head, layout.loaded, 1);
    Atomics.notify(head, layout.loaded);
  });
}
