/** The parts of a Keras 2 functional-model topology (tfjs layers model.json) we read. */
export interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  /** Keras 2: [[["input layer", nodeIndex, tensorIndex, kwargs], ...]] (one node per call). */
  inbound_nodes: unknown[];
}

export interface KerasModelTopology {
  keras_version?: string;
  model_config?: {
    class_name: string;
    config: { name?: string; layers: KerasLayer[]; input_layers: unknown[]; output_layers: unknown[] };
  };
}

export type UnitActivation = 'relu6' | 'relu' | 'linear';

export interface BatchNormPlan {
  layer: string;
  eps: number;
  /** Keras's momentum (weight of the old running value), e.g. 0.999. */
  kerasMomentum: number;
  center: boolean;
  scale: boolean;
}

/** [[top, bottom], [left, right]] zeros, from a ZeroPadding2D before the conv. */
export type ExplicitPad = [[number, number], [number, number]];

/** One conv (+ BatchNorm) (+ ReLU/ReLU6) unit, i.e. one ConvBnAct module. */
export interface ConvUnitPlan {
  convLayer: string;
  depthwise: boolean;
  inChannels: number;
  outChannels: number;
  kernelSize: [number, number];
  stride: number;
  padding: 'same' | 'valid';
  padLayer: string | null;
  explicitPad: ExplicitPad | null;
  bias: boolean;
  bn: BatchNormPlan | null;
  activation: UnitActivation;
  /** The layer whose output feeds the unit (before its padding). */
  inputLayer: string;
  /** The last Keras layer of the unit (conv, BN or activation). */
  outputLayer: string;
}

export const BLOCK_ROLES = ['expand', 'depthwise', 'project'] as const;
export type BlockRole = (typeof BLOCK_ROLES)[number];

/** A lone conv unit, `features.<i>` (the stem, the last 1×1 conv). */
export interface ConvStagePlan {
  kind: 'conv';
  name: string;
  unit: ConvUnitPlan;
  inputLayer: string;
  outputLayer: string;
}

/** An inverted residual block: [expand] → depthwise → project (+ Add of its input). */
export interface BlockStagePlan {
  kind: 'block';
  name: string;
  units: Partial<Record<BlockRole, ConvUnitPlan>>;
  /** The Add layer when the block's input is added to its output. */
  residualLayer: string | null;
  inputLayer: string;
  outputLayer: string;
}

export type StagePlan = ConvStagePlan | BlockStagePlan;

export type DenseActivation = 'relu' | 'linear' | 'softmax';

export interface DensePlan {
  layer: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
  activation: DenseActivation;
  /** Rate of the Dropout right after it (0 when none). */
  dropout: number;
}

/** What the network is, read from the topology: the modules are built from this. */
export interface MobileNetPlan {
  modelName: string;
  inputLayer: string;
  /** [height, width, channels] the model was exported for. */
  inputShape: [number, number, number];
  stages: StagePlan[];
  /** The pooling layer; it averages the whole final map, so any input size works. */
  poolLayer: string;
  featureChannels: number;
  hidden: DensePlan[];
  classifier: DensePlan;
}
