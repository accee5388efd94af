import type { Dim } from '@ringtrain/graph';
import type { ParameterSpec } from './parameters.js';

/** A dropout mask input of the training graph, made by the caller for every step. */
export interface MaskInput {
  /** Graph input name, float32 [batch, width], with values 0 or 1 / keepProb. */
  name: string;
  /**
   * Index of the dropout site, which keys its random stream. MLP: 0 for the input features,
   * k >= 1 for the k-th hidden layer's output.
   */
  layer: number;
  /** Mask elements per sample. */
  width: number;
  keepProb: number;
}

/** A data input of the training graph. */
export interface DataInput {
  name: string;
  dtype: string;
  shape: Dim[];
}

/** Layout of the gradient outputs of the training session. */
export type GradientLayout = 'perParameter' | 'flat';

/**
 * A forward-and-backward graph with its input and output contract. A graph built without
 * gradients (for evaluation) has the same inputs and an empty `gradients` list.
 */
export interface TrainingGraph {
  /** ONNX ModelProto, opset 17. */
  bytes: Uint8Array;
  /** Parameters, which are graph inputs named as the specs, in flat-buffer order. */
  parameters: ParameterSpec[];
  /**
   * Samples and their targets, in this order. MLP: `input` float32 [batch, inputSize] and
   * `labels` int64 [batch]. GPT: `idx` and `targets` int64 [batch, seq]. Encoder: `idx` int64
   * [batch, seq] and `labels` int64 [batch]. A target of -1 is ignored (padding).
   */
  dataInputs: DataInput[];
  maskInputs: MaskInput[];
  /** Loss terms per sample: 1 for classifiers, seq for language models. */
  termsPerSample: number;
  /** Static batch size of the graph, or undefined where the batch is symbolic. */
  batch?: number;
  outputs: {
    /** Sum of the cross-entropy over every counted target, a float32 scalar. */
    lossSum: string;
    /** Number of counted targets whose argmax prediction is right, an int64 scalar. */
    correct: string;
    /**
     * With layout 'perParameter', gradients[i] is the gradient of parameters[i]; with 'flat',
     * one output contains all gradients in flat-buffer order. Gradients are of the summed loss.
     */
    gradients: string[];
    gradientLayout: GradientLayout;
  };
}
