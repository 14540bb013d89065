/**
 * The one registry of model-file formats, by extension, for the CLI and the demo alike: each
 * format reads bytes into a network (with what its reader fixed or noticed) and, optionally,
 * writes one back. Browser-safe (no file system): callers bring the bytes, and the bytes of the
 * companion files a model names (ONNX external data). A new format is one more entry of
 * {@link MODEL_FORMATS}.
 */
import { WeightBalanceError } from '../errors.js';
import type { Network } from '../network/types.js';
import type { OnnxModel, OnnxSource } from './onnx/index.js';
import { onnxExternalDataFiles, readOnnx, writeOnnxParts } from './onnx/index.js';
import { joinParts } from './onnx/writer.js';
import type { ActivationSpec, SafetensorsModel } from './safetensors.js';
import { readSafetensorsModel, safetensorsParts } from './safetensors.js';

/**
 * Units that a model file's reader fixed (factor 1): one entry per layer and per node that
 * fixed it. All of the layer's units are fixed.
 */
export interface FixedUnitsNote {
  /** The layer's index in the network and its name. */
  layer: number;
  name: string;
  /** How many units the layer has (all of them are fixed). */
  units: number;
  /** The op and the node (its name, or `#index`) that fixed them. */
  op: string;
  node: string;
  /**
   * `activation`: the op is not positively homogeneous (Sigmoid, Tanh, Softmax...) and is
   * modelled exactly; `unsupported`: an op the network model cannot express, kept as a barrier
   * of fixed units (balancing stays exact, the file keeps the op); `unfoldable-batchnorm`: a
   * BatchNormalization that cannot be folded into the block before it, kept as such a barrier;
   * `gate`: the per-channel factors of a squeeze-and-excitation `Mul(x, s)` (modelled exactly:
   * the gated channels scale with `x`'s, the gate itself cannot move).
   */
  reason: 'activation' | 'unsupported' | 'unfoldable-batchnorm' | 'gate';
}

/** What the user tells a reader that the file cannot say. */
export interface ReadModelOptions {
  /** The activation between the layers of a state dict (the CLI's `--activation`). */
  activation?: ActivationSpec;
  /**
   * The caller gives the bytes up (the CLI, which read them from disk): a reader may keep views
   * of them instead of copies, so the weights are in memory once. The bytes must not change.
   */
  share?: boolean;
  /**
   * `false`: leave the check that every weight is finite to `balance()`, which the network goes
   * to (see `ReadSafetensorsOptions.checkValues`, `ReadOnnxOptions.checkValues`). Default `true`.
   */
  checkValues?: boolean;
}

/** What the caller tells a writer. */
export interface WriteModelOptions {
  /**
   * `false`: the network's values were checked as they were made (`balance()`'s result, written
   * as it came): the writer checks its structure but reads no value to check it. Default `true`.
   */
  checkValues?: boolean;
}

/** A model as read: the network, what its reader reported, and the reader's state for the same format's writer. */
export interface ModelRead {
  /** The {@link ModelFormat.name} it was read with. */
  format: string;
  network: Network;
  /** Units the reader fixed because of the ops around them. */
  fixedUnits: FixedUnitsNote[];
  /** Other remarks for a report, one sentence each. */
  notes: string[];
  /**
   * Why `network` alone does not compute the file's function (empty: it does). Writing the
   * network in another format would then change the model, so that is refused.
   */
  inexact: string[];
  /** The reader's own state, given back to the same format's writer (e.g. the file to patch). */
  state: unknown;
}

/** A model as read, without its network: what a writer of the same format gets back (a caller may drop the network once balanced). */
export type ReadSource = Omit<ModelRead, 'network'>;

/** What a {@link ModelFormat} writer returns. */
export interface ModelOutput {
  /**
   * The model file, whole or as parts written one after the other (no copy of large tensors; an
   * iterable may make each part when it is reached).
   */
  bytes: Uint8Array | Iterable<Uint8Array>;
  /** Files the model refers to, by path relative to its directory (e.g. ONNX external data), whole or as parts; absent: none. */
  companions?: Record<string, Uint8Array | Iterable<Uint8Array>>;
}

/** The whole file of a writer's output (its parts joined; the part itself when there is one). */
export function outputBytes(output: ModelOutput): Uint8Array {
  return output.bytes instanceof Uint8Array ? output.bytes : joinParts(output.bytes);
}

/** A file format for networks. */
export interface ModelFormat {
  name: string;
  /** Lower-case extensions with the dot, e.g. `.safetensors`. */
  extensions: readonly string[];
  /** The companion files (relative paths) a model file names, which {@link read} needs. Absent: none. */
  needs?(bytes: Uint8Array): string[];
  /** Decode a model file; `companions` holds the files {@link needs} named, by name. */
  read(bytes: Uint8Array, companions?: Record<string, Uint8Array>, options?: ReadModelOptions): ModelRead;
  /**
   * Encode a network. `source` is the model it was read from when that has this same format
   * (a writer may patch it, e.g. replace an ONNX graph's initialisers), else `null`.
   * Absent: the format is read-only.
   */
  write?(net: Network, source: ReadSource | null, options?: WriteModelOptions): ModelOutput;
  /**
   * Throw the {@link WeightBalanceError} that {@link write} would throw for this `source`, so that
   * it comes before any long work. Absent: every network is written.
   */
  checkWrite?(source: ReadSource | null): void;
  /** The companion files {@link write} produces for this `source` (relative paths). Absent: none. */
  companions?(source: ReadSource | null): string[];
}

/**
 * What the ONNX reader keeps for its writer: the bytes around the weight data (copies), never
 * the input network or the file as read, so that a caller dropping those holds one copy of the
 * weights.
 */
interface OnnxState {
  source: OnnxSource;
}

/** Names quoted and joined for a report line: the first 10, then a count of the rest. */
export function listNames(names: readonly string[]): string {
  const shown = names
    .slice(0, 10)
    .map((n) => `'${n}'`)
    .join(', ');
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}

const REASONS = { activation: 'activation', opaque: 'unsupported', unfoldable: 'unfoldable-batchnorm', gate: 'gate' } as const;

/** The ONNX reader's report: fixed units per layer, remarks, and what the network alone does not compute. */
function onnxReport(model: OnnxModel): Pick<ModelRead, 'fixedUnits' | 'notes' | 'inexact'> {
  // Each layer once, with the first node that fixed it (a layer can be both the output of one
  // fixing op and the input of the next, e.g. HardSwish after HardSwish).
  const seen = new Set<number>();
  const fixedUnits: FixedUnitsNote[] = model.fixedUnits.flatMap((f) =>
    f.layers
      .filter((l) => !seen.has(l.layer) && seen.add(l.layer))
      .map((l) => ({
        layer: l.layer,
        name: l.name,
        units: l.units,
        op: f.op,
        node: f.node,
        reason: REASONS[f.modelled],
      })),
  );
  const bns = model.foldedBatchNorms;
  const notes =
    bns.length === 0
      ? []
      : [
          `${bns.length} BatchNormalization node${bns.length > 1 ? 's are' : ' is'} folded into the weights before ${bns.length > 1 ? 'them' : 'it'} (the file keeps the nodes; their bias B is rewritten): ${listNames(bns)}`,
        ];
  const inexact = model.fixedUnits
    .filter((f) => f.modelled === 'opaque' || f.modelled === 'unfoldable')
    .map((f) =>
      f.modelled === 'unfoldable'
        ? `BatchNormalization '${f.node}' cannot be folded into a Conv/Gemm/MatMul and is kept as an identity barrier of fixed units`
        : `op '${f.op}' (node '${f.node}') is kept as an identity barrier of fixed units`,
    );
  if (model.inputTranspose) {
    const transpose = `the graph transposes its input first (perm [${model.inputTranspose.join(', ')}]): the network's input layer has the transposed shape`;
    notes.push(transpose);
    inexact.push(transpose);
  }
  return { fixedUnits, notes, inexact };
}

/** The safetensors reader's report: what was assumed, and the BatchNorms folded (one line). */
function safetensorsNotes(model: SafetensorsModel): string[] {
  const notes = [...model.assumptions];
  const bns = model.foldedBatchNorms;
  if (bns.length > 0)
    notes.push(
      `${bns.length} BatchNorm${bns.length > 1 ? 's' : ''} folded into the weights before ${bns.length > 1 ? 'them' : 'it'} (the written file holds the folded weights): ${listNames(bns)}`,
    );
  return notes;
}

const NEEDS_ONNX_SOURCE =
  "writing '.onnx' needs a network read from an '.onnx' file (the writer rewrites that file's weight initializers and keeps everything else)";

function onnxState(source: ReadSource | null): OnnxState {
  if (!source) throw new WeightBalanceError(NEEDS_ONNX_SOURCE);
  return source.state as OnnxState;
}

/** safetensors: an `nn.Sequential` state dict, or one written by this library (with its graph). */
export const safetensorsFormat: ModelFormat = {
  name: 'safetensors',
  extensions: ['.safetensors'],
  read(bytes, _companions, options = {}) {
    const model = readSafetensorsModel(bytes, options);
    return { format: 'safetensors', network: model.network, fixedUnits: [], notes: safetensorsNotes(model), inexact: [], state: null };
  },
  write: (net, _source, options = {}) => ({ bytes: safetensorsParts(net, options) }),
};

/**
 * ONNX models (`.onnx`). Writing needs the network to come from an `.onnx` file; its external
 * data files (all of them, changed or not) are written with the output model.
 */
export const onnxFormat: ModelFormat = {
  name: 'onnx',
  extensions: ['.onnx'],
  needs: (bytes) => onnxExternalDataFiles(bytes),
  read(bytes, companions = {}, options = {}) {
    const externalData: Record<string, Uint8Array> = Object.fromEntries(Object.entries(companions)); // own properties only
    const model = readOnnx(bytes, { externalData, checkValues: options.checkValues });
    const report = onnxReport(model);
    if (options.activation) report.notes.push('the activation option is ignored: an ONNX graph gives its own activations');
    return { format: 'onnx', network: model.network, ...report, state: { source: model.source } satisfies OnnxState };
  },
  checkWrite(source) {
    onnxState(source);
  },
  companions(source) {
    return source ? onnxState(source).source.files.flatMap((f) => (f.file === null ? [] : [f.file])) : [];
  },
  write(net, source, options = {}) {
    const parts = writeOnnxParts(onnxState(source).source, net, options);
    // Unchanged data files too: the output model must load from its own directory.
    return { bytes: parts.model, companions: parts.externalData };
  },
};

/** The formats the library knows, by extension. */
export const MODEL_FORMATS: readonly ModelFormat[] = [safetensorsFormat, onnxFormat];

/** The extension of a file name, lower-case with the dot (`''` when none). */
export function extensionOf(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

/** The format of a file name, from its extension; a {@link WeightBalanceError} lists the known ones. */
export function modelFormatFor(name: string, purpose: 'read' | 'write' = 'read'): ModelFormat {
  const ext = extensionOf(name);
  const known = MODEL_FORMATS.filter((f) => purpose === 'read' || f.write);
  const format = known.find((f) => f.extensions.includes(ext));
  if (!format) {
    const extensions = known.flatMap((f) => f.extensions);
    const either = extensions.length > 1 ? `${extensions.slice(0, -1).join(', ')} or ${extensions[extensions.length - 1]}` : extensions[0];
    throw new WeightBalanceError(
      `'${name}' is not a ${either} file (cannot ${purpose} ${ext ? `'${ext}'` : 'files without an extension'}; supported: ${extensions.join(', ')})`,
    );
  }
  return format;
}

/** A name in single quotes (a function, so that no template text reads like an import statement to the bundle's import scanner in test/dist.test.ts). */
function quoted(name: string): string {
  return `'${name}'`;
}

/** The source a format's writer gets: the model read, when it has that format. */
export function sourceFor<S extends ReadSource>(format: ModelFormat, source: S | null): S | null {
  return source && source.format === format.name ? source : null;
}

/**
 * Check, before any long work, that a network read as `source` (null: built in memory) can be
 * written as `name` (its extension): a writable format that accepts this source, and a model that
 * keeps its function in that format. Returns the format and the source its writer gets.
 */
export function checkWritable(name: string, source: ReadSource | null, sourceName = 'the input'): { format: ModelFormat; own: ReadSource | null } {
  const format = modelFormatFor(name, 'write');
  if (source && source.format !== format.name && source.inexact.length > 0) {
    const own = MODEL_FORMATS.find((f) => f.name === source.format)?.extensions[0] ?? source.format;
    throw new WeightBalanceError(
      `cannot write '${name}': the network read from ${quoted(sourceName)} does not compute that model's function by itself (${source.inexact.join('; ')}), ` +
        `so a '${extensionOf(name)}' file would be a different model; write '${own}' instead`,
    );
  }
  const own = sourceFor(format, source);
  try {
    format.checkWrite?.(own);
  } catch (error) {
    if (error instanceof WeightBalanceError) throw new WeightBalanceError(`cannot write '${name}': ${error.message}`);
    throw error;
  }
  return { format, own };
}
