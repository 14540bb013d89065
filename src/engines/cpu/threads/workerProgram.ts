/**
 * What a worker thread of the pool runs. {@link workerProgram} is sent to the worker as source
 * text (`String(workerProgram)`), so it must not refer to anything outside its own body: the
 * layout of the control memory arrives in its first message.
 *
 * A job is a list of chunks (a chunk: up to {@link CONTROL.callsPerChunk} calls of the
 * WebAssembly exports), which the caller and the workers *claim* one at a time, so that a
 * thread the system does not schedule at once costs the job nothing: the others take its share.
 * All through the control `SharedArrayBuffer` (`Int32Array` words at the offsets of
 * {@link CONTROL}, then float64 words for the chunks):
 * 1. `{ start }`: the worker keeps the control memory and answers `'ready'`.
 * 2. `{ load }`: it instantiates the WebAssembly module on the shared memory (`failed` set when it
 *    cannot), adds 1 to `loaded`, and waits (`Atomics.wait`) for `seq` to change.
 * 3. Each change of `seq` with `op` 1: it claims chunks by compare-and-swap on `claim` (a job's
 *    generation, its chunk count and the next chunk, packed: a worker woken late for a finished
 *    job claims nothing), runs each (adding its own `shift` to the argument at each call's
 *    shifted positions: its own column sums and scratch), and adds 1 to `done` (waking the caller at the
 *    count); an error sets `failed`. With `op` 2 it subtracts 1 from `loaded` and returns to its
 *    event loop (a later `{ load }` may come).
 */

/** Word offsets in the control memory's `Int32Array`, and the shape of the chunks. */
export const CONTROL = {
  seq: 0,
  op: 1,
  claim: 2,
  done: 3,
  failed: 4,
  loaded: 5,
  /** Chunks run by the workers, all jobs together (what tests read). */
  byWorkers: 6,
  /** Bytes of `Int32Array` words before the chunks. */
  headerBytes: 64,
  /** Calls per chunk, and float64 words per call: an export index, the shifted arguments (a bit per position), 12 arguments. */
  callsPerChunk: 1,
  wordsPerCall: 14,
  /** The most chunks a job has (the claim word packs a count and an index of 8 bits each). */
  maxChunks: 255,
} as const;

export const OP_RUN = 1;
export const OP_UNLOAD = 2;

/** Float64 words of one chunk: a count of calls, then the calls. */
export const CHUNK_WORDS = 1 + CONTROL.callsPerChunk * CONTROL.wordsPerCall;

/** The claim word of a job: generation (14 bits), chunk count and next chunk (8 bits each). */
export function claimWord(generation: number, count: number, next: number): number {
  return ((generation & 0x3fff) << 16) | (count << 8) | next;
}

/** The messages a worker receives. */
export type WorkerMessage =
  | { start: { control: SharedArrayBuffer; layout: typeof CONTROL; chunkWords: number; opRun: number; opUnload: number } }
  | { load: { module: WebAssembly.Module; memory: WebAssembly.Memory; exports: string[]; shift: number } };

/** How a worker talks to its creator (Node's `parentPort` or a browser worker's global scope). */
export interface WorkerPort {
  listen(handler: (message: WorkerMessage) => void): void;
  post(message: string): void;
}

/** The body of a worker thread (self-contained: see the module comment). */
export function workerProgram(port: WorkerPort): void {
  let head: Int32Array;
  let chunks: Float64Array;
  let layout: typeof CONTROL;
  let chunkWords = 0;
  let opRun = 0;
  let opUnload = 0;
  const args = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  port.listen((message) => {
    if ('start' in message) {
      const start = message.start;
      layout = start.layout;
      chunkWords = start.chunkWords;
      opRun = start.opRun;
      opUnload = start.opUnload;
      head = new Int32Array(start.control, 0, layout.headerBytes / 4);
      chunks = new Float64Array(start.control, layout.headerBytes);
      port.post('ready');
      return;
    }
    const { module, memory, exports, shift } = message.load;
    let seen = Atomics.load(head, layout.seq);
    let table: ((...values: number[]) => void)[];
    try {
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      table = exports.map((name) => instance.exports[name] as (...values: number[]) => void);
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
      if (op !== opRun) continue;
      for (;;) {
        const claim = Atomics.load(head, layout.claim);
        const count = (claim >> 8) & 0xff;
        const chunk = claim & 0xff;
        if (chunk >= count) break;
        if (Atomics.compareExchange(head, layout.claim, claim, claim + 1) !== claim) continue;
        try {
          const base = chunk * chunkWords;
          for (let c = 0, at = base + 1; c < chunks[base]; c++, at += layout.wordsPerCall) {
            const shifted = chunks[at + 1];
            for (let a = 0; a < 12; a++) args[a] = chunks[at + 2 + a] + ((shifted >> a) & 1) * shift;
            table[chunks[at]](args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11]);
          }
        } catch {
          Atomics.store(head, layout.failed, 1);
        }
        Atomics.add(head, layout.byWorkers, 1);
        if (Atomics.add(head, layout.done, 1) + 1 === count) Atomics.notify(head, layout.done);
      }
    }
    Atomics.sub(head, layout.loaded, 1);
    Atomics.notify(head, layout.loaded);
  });
}
