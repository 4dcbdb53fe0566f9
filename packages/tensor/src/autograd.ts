import * as tf from '@tensorflow/tfjs-core';

/**
 * tf.variableGrads with PyTorch's memory behaviour in the backward pass. tfjs's
 * engine.gradients keeps every tensor a step saved for its backward, and every activation
 * gradient, until the whole backward pass ends, so its peak holds all activations and all
 * their gradients at once. Here each node's saved tensors and its outputs' gradients are
 * freed as soon as the node has been differentiated, as autograd does: the peak is the
 * activations plus the few gradients in flight.
 *
 * It walks the same tape with the same gradient functions as tfjs-core 4.22's
 * Engine.gradients and backpropagateGradients (tape.ts); nested (higher-order) gradient
 * scopes fall back to tf.variableGrads.
 */

interface TapeNode {
  id: number;
  kernelName: string;
  outputs: tf.Tensor[];
  inputs: Record<string, tf.Tensor>;
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

type AddTapeNode = (kernelName: string, inputs: unknown, outputs: unknown, gradientsFunc: unknown, saved: tf.Tensor[] | undefined, attrs: unknown) => void;

interface EngineInternals {
  state: { gradientDepth: number; activeTape: TapeNode[] | null };
  addTapeNode: AddTapeNode;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/**
 * Kernels whose gradient reads nothing of what it saved but shapes (Add/Sub reduce a
 * broadcast, Reshape/ExpandDims reshape back): tfjs saves both operands of every residual
 * add and every reshaped activation for that, tens of MB per transformer layer.
 */
const SHAPE_ONLY_GRADIENTS: ReadonlySet<string> = new Set([tf.Add, tf.Sub, tf.Reshape, tf.ExpandDims]);

/** What such a gradient reads of a saved tensor, without its data. */
function shapeOf(t: tf.Tensor): tf.Tensor {
  return { shape: t.shape.slice(), dtype: t.dtype, rank: t.rank, size: t.size, isDisposed: false, dispose: () => undefined } as unknown as tf.Tensor;
}

/** Runs the taped forward pass with shape-only saves replaced by shapes as each step is recorded. */
function forwardWithLeanTape<T>(engine: EngineInternals, f: () => T): T {
  const record = engine.addTapeNode;
  engine.addTapeNode = (kernelName, inputs, outputs, gradientsFunc, saved, attrs) => {
    if (saved != null && SHAPE_ONLY_GRADIENTS.has(kernelName)) {
      saved.forEach((t, i) => {
        saved[i] = shapeOf(t);
        t.dispose();
      });
    }
    record.call(engine, kernelName, inputs, outputs, gradientsFunc, saved, attrs);
  };
  try {
    return engine.scopedRun(() => engine.startTape(), () => engine.endTape(), f);
  } finally {
    // The prototype's method again (the override was an own property).
    delete (engine as Partial<EngineInternals>).addTapeNode;
  }
}

/** The nodes on a path from one of `xs` to `y`, with inputs that do not depend on xs pruned (tape.ts's getFilteredNodesXToY). */
function pathNodes(tape: TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/** Gradient of `dx` for input `name` of `node`, checked as tfjs checks it. */
function checkedGradient(node: TapeNode, name: string, dx: tf.Tensor): tf.Tensor {
  const x = node.inputs[name];
  if (dx.dtype !== 'float32') {
    throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
  }
  if (!tf.util.arraysEqual(dx.shape, x.shape)) {
    throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
  }
  return dx;
}

/**
 * Value of the scalar `f` and its gradients with respect to `vars` (by variable name; a
 * variable `f` does not reach has none), like tf.variableGrads(f, vars).
 */
export function variableGradients(f: () => tf.Scalar, vars: readonly tf.Variable[]): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const engine = tf.engine() as unknown as EngineInternals;
  if (engine.state.gradientDepth > 0 || vars.length === 0) return tf.variableGrads(f, [...vars]);
  const y = forwardWithLeanTape(engine, () => engine.tidy('forward', f));
  const tape = engine.state.activeTape ?? [];
  if (!(y instanceof tf.Tensor) || y.rank !== 0) {
    engine.state.activeTape = null;
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    tf.dispose(y);
    throw new Error(`variableGradients: f must return a scalar, got ${y instanceof tf.Tensor ? `a rank-${y.rank} tensor` : typeof y}`);
  }
  try {
    const nodes = pathNodes(tape, vars, y);
    if (nodes.length === 0) throw new Error('Cannot find a connection between any variable and the result of the loss function y=f(x).');
    const grads = engine.tidy('backward', () => {
      const acc = new Map<number, tf.Tensor>([[y.id, tf.onesLike(y)]]);
      for (let i = nodes.length - 1; i >= 0; i--) {
        const node = nodes[i];
        if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        const inputGradients = node.gradient(node.outputs.map((o) => acc.get(o.id) ?? null));
        for (const name of Object.keys(node.inputs)) {
          if (!(name in inputGradients)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`);
          const dx = checkedGradient(node, name, engine.tidy(`grad ${node.kernelName}`, () => inputGradients[name]()));
          const id = node.inputs[name].id;
          const current = acc.get(id);
          acc.set(id, current == null ? dx : tf.add(current, dx));
          if (current != null) {
            current.dispose();
            // A gradient function may hand back dy itself (or another live gradient): keep it then.
            if (![...acc.values()].includes(dx)) dx.dispose();
          }
        }
        // Each output is made by this node alone, so its gradient is used up; and what the
        // node saved served only this backward. Free both now (unless a gradient aliases them).
        for (const o of node.outputs) {
          const g = acc.get(o.id);
          if (g == null) continue;
          acc.delete(o.id);
          if (![...acc.values()].includes(g)) g.dispose();
        }
        const live = new Set(acc.values());
        for (const t of node.saved ?? []) if (!live.has(t)) t.dispose();
      }
      const out: Record<string, tf.Tensor> = {};
      for (const v of vars) {
        const g = acc.get(v.id);
        if (g != null) out[v.name] = g;
      }
      return out;
    });
    return { value: y as tf.Scalar, grads };
  } finally {
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = null;
  }
}
