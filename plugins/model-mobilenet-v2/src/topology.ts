import { TopologyError, inboundNames, isNum, outputSize, squarePair, zeroPadding } from './keras-config';
import {
  BLOCK_ROLES,
  type BlockRole,
  type BlockStagePlan,
  type ConvUnitPlan,
  type DensePlan,
  type ExplicitPad,
  type KerasLayer,
  type KerasModelTopology,
  type MobileNetPlan,
  type StagePlan,
  type UnitActivation,
} from './topology-types';

export * from './topology-types';

/** Keras MobileNetV2 names a block's convs `<block>_expand`, `<block>_depthwise`, `<block>_project`. */
const BLOCK_CONV_NAME = /^(.+)_(expand|depthwise|project)$/;

/**
 * Reads a Keras MobileNetV2 functional model (as tfjs-layers stores it in model.json)
 * into a plan of stages: conv units (conv → BN → ReLU6, with an optional ZeroPadding2D
 * before) grouped into blocks by Keras's `<block>_<role>` names, residual Adds, the
 * pooling layer and the dense head. The data flow is checked against `inbound_nodes`, so
 * a topology this plan cannot express fails here, naming the layer, instead of silently
 * computing something else.
 */
export function parseMobileNetTopology(topology: KerasModelTopology): MobileNetPlan {
  const model = topology.model_config;
  if (!model || !Array.isArray(model.config?.layers)) {
    throw new Error('mobilenet-v2 topology: model.json has no modelTopology.model_config.config.layers (expected a Keras functional model)');
  }
  if (model.class_name !== 'Model' && model.class_name !== 'Functional') {
    throw new Error(`mobilenet-v2 topology: expected a functional Keras model, got class_name "${model.class_name}"`);
  }
  return new TopologyWalker(model.config.name ?? 'model').walk(model.config.layers, model.config.output_layers);
}

class TopologyWalker {
  private current = '';
  private channels = 0;
  private spatial = 0;
  private inputShape: [number, number, number] = [0, 0, 0];
  private inputLayer = '';
  private pendingPad: { layer: string; pad: ExplicitPad; input: string } | null = null;
  private unit: ConvUnitPlan | null = null;
  private block: BlockStagePlan | null = null;
  private readonly stages: StagePlan[] = [];
  private poolLayer: string | null = null;
  private readonly dense: DensePlan[] = [];

  constructor(private readonly modelName: string) {}

  walk(layers: KerasLayer[], outputLayers: unknown[]): MobileNetPlan {
    for (const layer of layers) this.visit(layer);
    this.closeUnit();
    this.closeBlock();
    const last = this.dense.at(-1);
    if (!this.poolLayer || !last) throw new Error('mobilenet-v2 topology: expected a pooling layer and at least one Dense layer after the convolutions');
    const outputs = (outputLayers ?? []).map((o) => (Array.isArray(o) ? o[0] : o));
    if (outputs.length !== 1 || outputs[0] !== last.layer) {
      throw new Error(`mobilenet-v2 topology: the model output must be the last Dense layer "${last.layer}", got ${JSON.stringify(outputs)}`);
    }
    return {
      modelName: this.modelName,
      inputLayer: this.inputLayer,
      inputShape: this.inputShape,
      stages: this.stages,
      poolLayer: this.poolLayer,
      featureChannels: this.stages.length ? this.stageChannels() : this.inputShape[2],
      hidden: this.dense.slice(0, -1),
      classifier: last,
    };
  }

  private stageChannels(): number {
    const s = this.stages[this.stages.length - 1];
    const unit = s.kind === 'conv' ? s.unit : (s.units.project ?? s.units.depthwise)!;
    return unit.outChannels;
  }

  private expectInputs(name: string, inputs: string[], expected: string[]): void {
    const same = inputs.length === expected.length && [...inputs].sort().join('\n') === [...expected].sort().join('\n');
    if (!same) throw new TopologyError(name, `takes input from ${JSON.stringify(inputs)}, expected ${JSON.stringify(expected)} (only a chain of layers with residual Adds is supported)`);
  }

  private visit(layer: KerasLayer): void {
    const name = layer.name ?? String(layer.config?.name ?? '');
    const cfg = layer.config ?? {};
    const inputs = inboundNames(layer, name);
    if (layer.class_name !== 'InputLayer' && !this.inputLayer) throw new TopologyError(name, 'comes before the InputLayer');
    if (this.poolLayer && !['Flatten', 'Dense', 'Dropout'].includes(layer.class_name)) {
      throw new TopologyError(name, `${layer.class_name} after the pooling layer is not supported (only Flatten, Dense, Dropout)`);
    }
    switch (layer.class_name) {
      case 'InputLayer': {
        const shape = cfg.batch_input_shape as unknown[];
        if (!Array.isArray(shape) || shape.length !== 4 || !shape.slice(1).every(isNum) || shape[1] !== shape[2]) {
          throw new TopologyError(name, `batch_input_shape must be [null, size, size, channels], got ${JSON.stringify(shape)}`);
        }
        this.inputShape = shape.slice(1) as [number, number, number];
        [this.spatial, , this.channels] = this.inputShape;
        this.inputLayer = this.current = name;
        return;
      }
      case 'ZeroPadding2D':
        this.expectInputs(name, inputs, [this.current]);
        this.closeUnit();
        this.pendingPad = { layer: name, pad: zeroPadding(name, cfg.padding), input: this.current };
        this.current = name;
        return;
      case 'Conv2D':
      case 'DepthwiseConv2D':
        this.expectInputs(name, inputs, [this.current]);
        this.openUnit(name, layer.class_name === 'DepthwiseConv2D', cfg);
        return;
      case 'BatchNormalization': {
        this.expectInputs(name, inputs, [this.current]);
        const unit = this.unit;
        if (!unit || unit.bn || unit.activation !== 'linear') throw new TopologyError(name, 'BatchNormalization must directly follow a convolution');
        if (cfg.axis !== -1 && cfg.axis !== 3 && !(Array.isArray(cfg.axis) && cfg.axis[0] === 3)) throw new TopologyError(name, `only channel-axis BatchNormalization is supported, got axis ${JSON.stringify(cfg.axis)}`);
        if (!isNum(cfg.epsilon) || !isNum(cfg.momentum)) throw new TopologyError(name, 'config needs numeric epsilon and momentum');
        unit.bn = { layer: name, eps: cfg.epsilon, kerasMomentum: cfg.momentum, center: cfg.center !== false, scale: cfg.scale !== false };
        unit.outputLayer = this.current = name;
        return;
      }
      case 'ReLU':
      case 'Activation': {
        this.expectInputs(name, inputs, [this.current]);
        if (!this.unit || this.unit.activation !== 'linear') throw new TopologyError(name, 'an activation must follow a convolution (and its BatchNormalization)');
        this.unit.activation = this.unitActivation(name, layer.class_name, cfg);
        this.unit.outputLayer = this.current = name;
        return;
      }
      case 'Add':
        this.addResidual(name, inputs);
        return;
      case 'AveragePooling2D':
      case 'GlobalAveragePooling2D':
        this.expectInputs(name, inputs, [this.current]);
        this.closeUnit();
        this.closeBlock();
        if (layer.class_name === 'AveragePooling2D') {
          const pool = squarePair(name, 'pool_size', cfg.pool_size);
          if (pool[0] !== this.spatial || pool[1] !== this.spatial) {
            throw new TopologyError(name, `pool_size ${JSON.stringify(pool)} does not cover the whole ${this.spatial}×${this.spatial} feature map, so it is not a global average pool`);
          }
        }
        this.poolLayer = this.current = name;
        return;
      case 'Flatten':
        this.expectInputs(name, inputs, [this.current]);
        if (this.current !== this.poolLayer) throw new TopologyError(name, 'Flatten must directly follow the pooling layer');
        this.current = name;
        return;
      case 'Dense':
        this.expectInputs(name, inputs, [this.current]);
        this.addDense(name, cfg);
        return;
      case 'Dropout': {
        this.expectInputs(name, inputs, [this.current]);
        const last = this.dense.at(-1);
        if (!last || last.layer !== this.current || !isNum(cfg.rate)) throw new TopologyError(name, 'Dropout must directly follow a Dense layer and have a numeric rate');
        last.dropout = cfg.rate;
        this.current = name;
        return;
      }
      default:
        throw new TopologyError(name, `layer class ${layer.class_name} is not supported by the MobileNetV2 loader`);
    }
  }

  private unitActivation(name: string, className: string, cfg: Record<string, unknown>): UnitActivation {
    if (className === 'Activation') {
      if (cfg.activation === 'relu' || cfg.activation === 'relu6' || cfg.activation === 'linear') return cfg.activation;
      throw new TopologyError(name, `activation "${String(cfg.activation)}" is not supported (relu, relu6, linear)`);
    }
    if ((cfg.negative_slope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0) throw new TopologyError(name, 'ReLU with negative_slope or threshold is not supported');
    if (cfg.max_value === 6) return 'relu6';
    if (cfg.max_value === null || cfg.max_value === undefined) return 'relu';
    throw new TopologyError(name, `ReLU max_value ${String(cfg.max_value)} is not supported (6 or none)`);
  }

  private openUnit(name: string, depthwise: boolean, cfg: Record<string, unknown>): void {
    const pad = this.pendingPad;
    this.closeUnit();
    if (cfg.data_format && cfg.data_format !== 'channels_last') throw new TopologyError(name, 'only channels_last convolutions are supported');
    const dilation = squarePair(name, 'dilation_rate', cfg.dilation_rate ?? 1);
    if (dilation[0] !== 1 || dilation[1] !== 1) throw new TopologyError(name, 'dilated convolutions are not supported');
    const strides = squarePair(name, 'strides', cfg.strides ?? 1);
    if (strides[0] !== strides[1]) throw new TopologyError(name, `unequal strides ${JSON.stringify(strides)} are not supported`);
    if (cfg.padding !== 'same' && cfg.padding !== 'valid') throw new TopologyError(name, `padding must be "same" or "valid", got ${JSON.stringify(cfg.padding)}`);
    if ((cfg.activation ?? 'linear') !== 'linear') throw new TopologyError(name, `a fused conv activation ("${String(cfg.activation)}") is not supported`);
    const mult = depthwise ? cfg.depth_multiplier ?? 1 : 1;
    const outChannels = depthwise ? this.channels * Number(mult) : cfg.filters;
    if (!isNum(outChannels) || outChannels < 1) throw new TopologyError(name, 'needs a positive filters (or depth_multiplier)');
    const k = squarePair(name, 'kernel_size', cfg.kernel_size);
    this.unit = {
      convLayer: name,
      depthwise,
      inChannels: this.channels,
      outChannels,
      kernelSize: [k[0], k[1]],
      stride: strides[0],
      padding: cfg.padding,
      padLayer: pad?.layer ?? null,
      explicitPad: pad?.pad ?? null,
      bias: cfg.use_bias !== false,
      bn: null,
      activation: 'linear',
      inputLayer: pad?.input ?? this.current,
      outputLayer: name,
    };
    this.channels = outChannels;
    this.spatial = outputSize(this.spatial, this.unit);
    this.current = name;
  }

  /** Files the finished unit under its block (by Keras name) or as a lone conv stage. */
  private closeUnit(): void {
    const unit = this.unit;
    this.unit = null;
    this.pendingPad = null;
    if (!unit) return;
    const match = BLOCK_CONV_NAME.exec(unit.convLayer);
    if (!match) {
      this.closeBlock();
      this.stages.push({ kind: 'conv', name: unit.convLayer, unit, inputLayer: unit.inputLayer, outputLayer: unit.outputLayer });
      return;
    }
    const [, blockName, role] = match as unknown as [string, string, BlockRole];
    if (this.block && this.block.name !== blockName) this.closeBlock();
    if (!this.block) this.block = { kind: 'block', name: blockName, units: {}, residualLayer: null, inputLayer: unit.inputLayer, outputLayer: unit.outputLayer };
    const block = this.block;
    const later = BLOCK_ROLES.slice(BLOCK_ROLES.indexOf(role));
    if (later.some((r) => block.units[r])) throw new TopologyError(unit.convLayer, `block "${blockName}" already has a ${role} (or a later) unit; order must be expand → depthwise → project`);
    block.units[role] = unit;
    block.outputLayer = unit.outputLayer;
  }

  private closeBlock(): void {
    const block = this.block;
    this.block = null;
    if (!block) return;
    if (!block.units.depthwise || !block.units.project) {
      throw new TopologyError(block.name, 'an inverted residual block needs a depthwise and a project convolution');
    }
    this.stages.push(block);
  }

  private addResidual(name: string, inputs: string[]): void {
    this.closeUnit();
    const block = this.block;
    if (!block) throw new TopologyError(name, 'Add is only supported as the residual of an inverted residual block');
    this.expectInputs(name, inputs, [block.inputLayer, block.outputLayer]);
    const first = block.units.expand ?? block.units.depthwise!;
    if (first.inChannels !== this.channels || block.units.depthwise!.stride !== 1) {
      throw new TopologyError(name, `residual Add needs stride 1 and equal channels (block input ${first.inChannels}, output ${this.channels})`);
    }
    block.residualLayer = block.outputLayer = this.current = name;
    this.closeBlock();
  }

  private addDense(name: string, cfg: Record<string, unknown>): void {
    const activation = cfg.activation ?? 'linear';
    if (activation !== 'relu' && activation !== 'linear' && activation !== 'softmax') {
      throw new TopologyError(name, `Dense activation "${String(activation)}" is not supported (relu, linear, softmax)`);
    }
    if (!isNum(cfg.units) || cfg.units < 1) throw new TopologyError(name, 'Dense needs positive units');
    const last = this.dense.at(-1);
    if (last?.activation === 'softmax') throw new TopologyError(name, 'only the last Dense layer may have a softmax');
    const inFeatures = last ? last.outFeatures : this.channels;
    this.dense.push({ layer: name, inFeatures, outFeatures: cfg.units, bias: cfg.use_bias !== false, activation, dropout: 0 });
    this.current = name;
  }
}
