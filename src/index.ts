/**
 * weight-balance: the weight-balancing fix and flows for ReLU networks
 * (L. K. Saul, "Weight-balancing fixes and flows for deep learning", TMLR 2023).
 * @packageDocumentation
 */

export type { BalanceOptions, BalanceResult, SweepProgress } from './balance.js';
export { balance } from './balance.js';
export type { AdapterInfoLike, BackendChoice, GpuAdapterLike, GpuDeviceLike, GpuLike, GpuSource } from './driver/backend.js';
export { chooseBackend, isSoftwareAdapter } from './driver/backend.js';
export type { Fallback, FallbackKind } from './driver/fallback.js';
export { weightBuffer } from './engines/cpu/wasm/weightBuffer.js';
export { BalanceAbortedError, WeightBalanceError } from './errors.js';
export type { CsvOptions, Dataset, SpiralOptions, TeacherOptions } from './flow/data.js';
export { parseDigitsCsv, parseLabelledCsv, splitDataset, teacherStudent, twoSpirals, validateDataset } from './flow/data.js';
export type { BalanceResidual, FlowOptions, ParameterArrays, Regulariser } from './flow/metric.js';
export { balanceResidual, flowDirection, flowDirections, lpqRegulariser } from './flow/metric.js';
export type { FlowStepOptions, Integrator } from './flow/steps.js';
export { flowStep } from './flow/steps.js';
export type { LossKind, ModelEvaluation, Optimizer, TrainerOptions, TrainLog, TrainOptions, TrainResult } from './flow/trainer.js';
export { MlpTrainer, train } from './flow/trainer.js';
export type { FixedUnitsNote, ModelFormat, ModelOutput, ModelRead, ReadModelOptions, ReadSource, WriteModelOptions } from './io/formats.js';
export { checkWritable, MODEL_FORMATS, modelFormatFor, outputBytes } from './io/formats.js';
export type { OnnxFiles, OnnxFixedUnits, OnnxModel, OnnxSource, ReadOnnxOptions } from './io/onnx/index.js';
export { onnxExternalDataFiles, readOnnx, writeOnnx, writeOnnxFiles } from './io/onnx/index.js';
export type { ActivationSpec, NetworkGraphMetadata, ReadSafetensorsOptions, SafetensorsModel, SafetensorsPartsOptions } from './io/safetensors.js';
export {
  GRAPH_METADATA_KEY,
  MAX_HEADER_BYTES,
  parseActivation,
  readSafetensors,
  readSafetensorsModel,
  safetensorsParts,
  writeSafetensors,
} from './io/safetensors.js';
export type { NormOptions } from './math/norm.js';
export { lpqNorm } from './math/norm.js';
export type { BalanceReport } from './math/report.js';
export { balanceReport } from './math/report.js';
export type { BuildOptions, LayerSpec } from './network/builders.js';
export { cnn, mlp, sequential } from './network/builders.js';
export { forward } from './network/forward.js';
export { rescale } from './network/rescale.js';
export type { Activation, Block, Conv2dBlock, DenseBlock, Layer, Network, Pool, StorageDtype, UnitRef, WeightArray } from './network/types.js';
export { validateNetwork } from './network/validate.js';
export type { Backend, BalanceKernels, EngineKind, NormExponents, Schedule } from './options.js';
export { updateExponent } from './options.js';
