/**
 * weight-balance: the weight-balancing fix and flows for ReLU networks
 * (L. K. Saul, "Weight-balancing fixes and flows for deep learning", TMLR 2023).
 * @packageDocumentation
 */
export type { Activation, Block, Conv2dBlock, DenseBlock, Layer, Network, Pool, StorageDtype, UnitRef, WeightArray } from './network/types.js';
export { mlp, cnn, sequential } from './network/builders.js';
export type { BuildOptions, LayerSpec } from './network/builders.js';
export { forward } from './network/forward.js';
export { rescale } from './network/rescale.js';
export { validateNetwork } from './network/validate.js';
export { lpqNorm } from './math/norm.js';
export type { NormOptions } from './math/norm.js';
export { balanceReport } from './math/report.js';
export type { BalanceReport } from './math/report.js';
export { balance } from './balance.js';
export type { BalanceOptions, BalanceResult, SweepProgress } from './balance.js';
export { chooseBackend, isSoftwareAdapter } from './driver/backend.js';
export type { AdapterInfoLike, BackendChoice, GpuAdapterLike, GpuDeviceLike, GpuLike, GpuSource } from './driver/backend.js';
export type { Fallback, FallbackKind } from './driver/fallback.js';
export type { Backend, NormExponents, Schedule } from './options.js';
export { updateExponent } from './options.js';
export { WeightBalanceError, BalanceAbortedError } from './errors.js';
export { flowDirection, flowDirections, lpqRegulariser, balanceResidual } from './flow/metric.js';
export type { FlowOptions, ParameterArrays, Regulariser, BalanceResidual } from './flow/metric.js';
export { MlpTrainer, train } from './flow/trainer.js';
export type { TrainerOptions, TrainOptions, TrainResult, TrainLog, Optimizer, LossKind, ModelEvaluation } from './flow/trainer.js';
export { flowStep } from './flow/steps.js';
export type { FlowStepOptions, Integrator } from './flow/steps.js';
export { twoSpirals, teacherStudent, parseDigitsCsv, parseLabelledCsv, splitDataset, validateDataset } from './flow/data.js';
export type { Dataset, CsvOptions, SpiralOptions, TeacherOptions } from './flow/data.js';
export { readSafetensors, writeSafetensors, GRAPH_METADATA_KEY, MAX_HEADER_BYTES } from './io/safetensors.js';
export type { NetworkGraphMetadata } from './io/safetensors.js';
export { readOnnx, writeOnnx, writeOnnxFiles, onnxExternalDataFiles } from './io/onnx/index.js';
export type { OnnxModel, OnnxFiles, OnnxFixedUnits, OnnxSource, ReadOnnxOptions } from './io/onnx/index.js';
export { MODEL_FORMATS, modelFormatFor, checkWritable } from './io/formats.js';
export type { ModelFormat, ModelRead, ModelOutput, FixedUnitsNote } from './io/formats.js';
