import { tf } from '@leantune/tensor';
import {
  createMobileNetV2,
  decodeWeights,
  kerasWeightMappings,
  nsfwjsPretrained,
  parseMobileNetTopology,
  readNsfwjsMobileNetV2,
  type KerasModelTopology,
  type LayersModelAssets,
} from '../src';
import { referenceArtifacts } from './reference';

const assets = readNsfwjsMobileNetV2();
const plan = parseMobileNetTopology(assets.modelTopology);

describe('nsfwjs weights', () => {
  it('dequantize exactly as tfjs-core io.decodeWeights does', () => {
    const { weightSpecs, weightData } = referenceArtifacts();
    const reference = tf.io.decodeWeights(weightData, weightSpecs);
    const ours = decodeWeights(assets);
    expect([...ours.keys()].sort()).toEqual(Object.keys(reference).sort());
    expect(ours.size).toBe(266);
    let total = 0;
    for (const [name, w] of ours) {
      const ref = reference[name];
      expect(w.shape).toEqual(ref.shape);
      expect(Buffer.from(w.values.buffer).equals(Buffer.from((ref.dataSync() as Float32Array).buffer))).toBe(true);
      total += w.values.length;
      ref.dispose();
    }
    expect(total).toBe(2_619_461);
  });

  it('report a short shard and an unknown quantization with the weight and the file', () => {
    const shard = assets.shards.get('group1-shard1of1')!;
    const short: LayersModelAssets = { ...assets, shards: new Map([['group1-shard1of1', shard.subarray(0, shard.length - 10)]]) };
    expect(() => decodeWeights(short)).toThrow(/weight "[^"]+" of .*mobilenet_v2 needs bytes \d+\.\.2619461 but the shards hold only 2619451/);
    const manifest = structuredClone(assets.weightsManifest);
    manifest[0].weights[0].quantization!.dtype = 'int4';
    expect(() => decodeWeights({ ...assets, weightsManifest: manifest })).toThrow(/weight "Conv1\/kernel" .* unknown quantization dtype "int4"; supported: uint8, uint16, float16/);
  });
});

describe('topology plan', () => {
  it('reads 19 stages: stem, 17 inverted residual blocks (10 with an Add), last 1×1 conv', () => {
    expect(plan.inputShape).toEqual([224, 224, 3]);
    expect(plan.stages.map((s) => s.name)).toEqual(['Conv1', 'expanded_conv', ...Array.from({ length: 16 }, (_, i) => `block_${i + 1}`), 'Conv_1']);
    const blocks = plan.stages.filter((s) => s.kind === 'block');
    expect(blocks).toHaveLength(17);
    expect(blocks.filter((b) => b.kind === 'block' && b.residualLayer).map((b) => b.name)).toEqual(
      ['block_2', 'block_4', 'block_5', 'block_7', 'block_8', 'block_9', 'block_11', 'block_12', 'block_14', 'block_15'],
    );
    const stem = plan.stages[0];
    expect(stem.kind === 'conv' && stem.unit).toMatchObject({ stride: 2, padding: 'valid', explicitPad: [[0, 1], [0, 1]], outChannels: 32, activation: 'relu6' });
    const b1 = plan.stages[1];
    expect(b1.kind === 'block' && Object.keys(b1.units)).toEqual(['depthwise', 'project']);
    expect(plan.featureChannels).toBe(1280);
    expect(plan.hidden.map((d) => [d.layer, d.outFeatures, d.activation, d.dropout])).toEqual([['dense_1', 256, 'relu', 0.5], ['dense_2', 128, 'relu', 0.25]]);
    expect(plan.classifier).toMatchObject({ layer: 'dense_3', inFeatures: 128, outFeatures: 5, activation: 'softmax' });
  });

  function edited(edit: (layers: Array<{ class_name: string; name?: string; config: Record<string, unknown>; inbound_nodes: unknown[] }>) => void): KerasModelTopology {
    const t = structuredClone(assets.modelTopology);
    edit(t.model_config!.config.layers);
    return t;
  }

  it('refuses what it cannot express, naming the layer', () => {
    expect(() => parseMobileNetTopology(edited((ls) => { ls.find((l) => l.name === 'block_3_expand_relu')!.class_name = 'PReLU'; })))
      .toThrow(/layer "block_3_expand_relu": layer class PReLU is not supported/);
    expect(() => parseMobileNetTopology(edited((ls) => { (ls.find((l) => l.name === 'block_2_add')!.inbound_nodes[0] as unknown[][])[0][0] = 'block_1_expand_BN'; })))
      .toThrow(/layer "block_2_add": takes input from .*block_1_expand_BN/);
    expect(() => parseMobileNetTopology(edited((ls) => { ls.find((l) => l.name === 'average_pooling2d_1')!.config.pool_size = [3, 3]; })))
      .toThrow(/pool_size \[3,3\] does not cover the whole 7×7 feature map/);
  });
});

describe('module tree', () => {
  const { weights } = nsfwjsPretrained();
  const { module: model } = createMobileNetV2({ name: 'mobilenet-v2' });
  afterAll(() => model.dispose());

  it('has the dotted names and PyTorch-layout shapes, and every nsfwjs weight once', () => {
    const shapes = new Map([...model.namedParameters()].map(([p, v]) => [p, v.shape]));
    expect(shapes.get('features.0.conv.weight')).toEqual([32, 3, 3, 3]);
    expect(shapes.get('features.1.depthwise.conv.weight')).toEqual([32, 1, 3, 3]);
    expect(shapes.get('features.3.expand.conv.weight')).toEqual([144, 24, 1, 1]);
    expect(shapes.get('features.3.depthwise.bn.running_var')).toEqual([144]);
    expect(shapes.get('features.18.conv.weight')).toEqual([1280, 320, 1, 1]);
    expect(shapes.get('head.0.dense.weight')).toEqual([256, 1280]);
    expect(shapes.get('classifier.weight')).toEqual([5, 128]);
    expect(model.countParameters().total).toBe(2_619_461);
    const mappings = kerasWeightMappings(model);
    expect(mappings).toHaveLength(266);
    expect(new Set(mappings.map((m) => m.keras)).size).toBe(weights.size);
    expect(mappings.find((m) => m.path === 'features.3.expand.conv.weight')?.keras).toBe('block_2_expand/kernel');
  });

  it('takes each value from its Keras weight in the right layout', () => {
    const flat = (shape: number[], idx: number[]) => idx.reduce((acc, i, d) => acc * shape[d] + i, 0);
    const at = (path: string, idx: number[]) => {
      const v = model.getParameter(path).variable;
      return v.dataSync()[flat(v.shape, idx)];
    };
    const keras = (name: string, idx: number[]) => weights.get(name)!.values[flat(weights.get(name)!.shape, idx)];
    // Conv [kh, kw, in, out] → [out, in, kh, kw]; depthwise [kh, kw, c, 1] → [c, 1, kh, kw]; Dense [in, out] → [out, in].
    expect(at('features.0.conv.weight', [7, 1, 2, 0])).toBe(keras('Conv1/kernel', [2, 0, 1, 7]));
    expect(at('features.5.depthwise.conv.weight', [100, 0, 1, 2])).toBe(keras('block_4_depthwise/depthwise_kernel', [1, 2, 100, 0]));
    expect(at('head.1.dense.weight', [3, 10])).toBe(keras('dense_2/kernel', [10, 3]));
    expect(at('features.9.project.bn.running_var', [17])).toBe(keras('block_8_project_BN/moving_variance', [17]));
    expect(at('classifier.bias', [4])).toBe(keras('dense_3/bias', [4]));
  });
});
