import { DeviceLostError } from '../engine.js';
import type { AcquiredDevice } from './device.js';

/** What the device's callbacks saw go wrong: the first failure, or `null`. */
interface DeviceHealth {
  failure: string | null;
}

/**
 * Record the device's loss in a small {@link DeviceHealth}. The callback closes over that object
 * only, never over the engine: a caller's long-lived device keeps its `lost` reaction until the
 * device dies, and it must not keep every disposed engine (with its problem and weights) alive.
 *
 * No `uncapturederror` listener: every GPU call of the engine is made inside its own error
 * scopes (see {@link DeviceScope.scoped}), so an uncaptured error on a shared device is other
 * code's, which must neither make the run fall back nor be taken from that code.
 */
function watchDevice(device: GPUDevice): DeviceHealth {
  const health: DeviceHealth = { failure: null };
  device.lost.then(
    (info) => {
      health.failure ??= `the WebGPU device was lost (${info.reason}): ${info.message}`;
    },
    () => undefined,
  );
  return health;
}

const KINDS = ['validation', 'out-of-memory', 'internal'] as const;

/**
 * The engine's device: its health, its error scopes, and its end (destroyed at `close()` only
 * when the engine requested it; a caller's device is never destroyed).
 */
export class DeviceScope {
  readonly device: GPUDevice;
  readonly adapter: string;
  private readonly owned: boolean;
  private readonly health: DeviceHealth;
  private closed = false;

  constructor(acquired: AcquiredDevice) {
    this.device = acquired.device;
    this.owned = acquired.owned;
    this.adapter = acquired.adapter;
    this.health = watchDevice(acquired.device);
  }

  /** Whether {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Make GPU calls inside validation, out-of-memory and internal error scopes that are pushed and
   * popped with no await in between: `calls` runs synchronously up to its first await, and only
   * that part is inside the scopes, so other code on the device (a caller awaiting between its
   * own push and pop, another engine) never interleaves with them, and the device is left with no
   * scope of ours. `calls` may start asynchronous work (pipeline compilation, a buffer mapping)
   * and return its promise; then throw a scope's error first (it says why), else the work's
   * error, or a device loss seen meanwhile.
   */
  async scoped<T>(calls: () => Promise<T>): Promise<T> {
    this.throwIfFailed();
    const { device } = this;
    for (const kind of [...KINDS].reverse()) device.pushErrorScope(kind);
    let pending: Promise<T>;
    try {
      pending = calls();
    } catch (error) {
      pending = Promise.reject(error);
    }
    const scopes = KINDS.map((kind) =>
      device.popErrorScope().then(
        (error) => (error ? `WebGPU ${kind} error: ${error.message}` : null),
        () => null,
      ),
    );
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await pending };
    } catch (error) {
      outcome = { error };
    }
    const scopeError = (await Promise.all(scopes)).find((error) => error !== null);
    if (scopeError) throw new Error(scopeError);
    if ('error' in outcome) {
      if (this.health.failure && !this.closed) throw new DeviceLostError(this.health.failure);
      throw outcome.error;
    }
    this.throwIfFailed();
    return outcome.value;
  }

  /** Throw if the engine was disposed or the device lost. */
  throwIfFailed(): void {
    if (this.closed) throw new Error('the WebGPU engine was disposed');
    if (this.health.failure) throw new DeviceLostError(this.health.failure);
  }

  /** Mark the scope closed and destroy the device if the engine owns it. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) this.device.destroy();
  }
}
