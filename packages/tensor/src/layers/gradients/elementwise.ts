import * as tf from '@tensorflow/tfjs-core';

// Ports of tfjs-core's gradient configs (Apache-2.0, tfjs-core/src/gradients/*), written
// against the public API. See ./index.ts for why they are needed.

type Grad = tf.GradConfig;
const { assertAndGetBroadcastShape, getReductionAxes } = tf.backend_util;

/** Sums a broadcast gradient back down to the shape of the input it came from. */
function unbroadcast(grad: tf.Tensor, shape: number[], outShape: number[]): tf.Tensor {
  const axes = getReductionAxes(shape, outShape);
  return tf.reshape(axes.length > 0 ? tf.sum(grad, axes) : grad, shape);
}

/** A broadcasting binary op whose partial derivatives are da(dy, a, b) and db(dy, a, b). */
function binary(
  kernelName: string,
  da: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  db: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
): Grad {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const outShape = assertAndGetBroadcastShape(a.shape, b.shape);
      const g = dy as tf.Tensor;
      return {
        a: () => unbroadcast(da(g, a, b), a.shape, outShape),
        b: () => unbroadcast(db(g, a, b), b.shape, outShape),
      };
    },
  };
}

/** A unary op x → y whose derivative is d(dy, x) (or d(dy, y) when `fromOutput`). */
function unary(kernelName: string, d: (dy: tf.Tensor, saved: tf.Tensor) => tf.Tensor, fromOutput = false): Grad {
  return {
    kernelName,
    ...(fromOutput ? { outputsToSave: [true] } : { inputsToSave: ['x'] }),
    gradFunc: (dy, saved) => ({ x: () => d(dy as tf.Tensor, saved[0]) }),
  };
}

const f32 = (t: tf.Tensor): tf.Tensor => tf.cast(t, 'float32');

export const elementwiseGradients: Grad[] = [
  binary(tf.Add, (dy) => dy, (dy) => dy),
  binary(tf.Sub, (dy) => dy, (dy) => tf.neg(dy)),
  binary(tf.Multiply, (dy, _a, b) => tf.mul(dy, f32(b)), (dy, a) => tf.mul(dy, f32(a))),
  binary(
    tf.RealDiv,
    (dy, _a, b) => tf.div(dy, f32(b)),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, f32(a)), f32(tf.square(b)))),
  ),
  binary(tf.SquaredDifference, (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))), (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a)))),
  binary(tf.Maximum, (dy, a, b) => tf.mul(dy, f32(tf.greaterEqual(a, b))), (dy, a, b) => tf.mul(dy, f32(tf.less(a, b)))),
  binary(tf.Minimum, (dy, a, b) => tf.mul(dy, f32(tf.lessEqual(a, b))), (dy, a, b) => tf.mul(dy, f32(tf.greater(a, b)))),
  {
    kernelName: tf.Pow,
    inputsToSave: ['a', 'b'],
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [a, b, y] = saved;
      const outShape = assertAndGetBroadcastShape(a.shape, b.shape);
      const g = dy as tf.Tensor;
      return {
        a: () => unbroadcast(tf.mul(g, tf.mul(f32(b), tf.pow(a, tf.sub(f32(b), 1)))), a.shape, outShape),
        b: () => {
          const logA = tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a));
          return unbroadcast(tf.mul(g, tf.mul(y, logA)), b.shape, outShape);
        },
      };
    },
  },
  unary(tf.Neg, (dy) => tf.neg(dy)),
  unary(tf.Abs, (dy, x) => tf.mul(dy, tf.step(f32(x), -1))),
  unary(tf.Square, (dy, x) => tf.mul(dy, tf.mul(f32(x), 2))),
  unary(tf.Sqrt, (dy, x) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
  unary(tf.Rsqrt, (dy, x) => tf.neg(tf.div(dy, tf.mul(tf.pow(x, 1.5), 2)))),
  unary(tf.Reciprocal, (dy, x) => tf.div(dy, tf.neg(tf.square(x)))),
  unary(tf.Exp, (dy, y) => tf.mul(dy, y), true),
  unary(tf.Log, (dy, x) => tf.div(dy, f32(x))),
  unary(tf.Log1p, (dy, x) => tf.div(dy, tf.add(x, 1))),
  unary(tf.Erf, (dy, x) => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(x))), 2 / Math.sqrt(Math.PI)))),
  unary(tf.Tanh, (dy, y) => tf.mul(tf.sub(1, tf.square(y)), dy), true),
  unary(tf.Sigmoid, (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y))), true),
  unary(tf.Softplus, (dy, x) => tf.mul(dy, tf.sigmoid(x))),
  unary(tf.Relu, (dy, x) => tf.mul(dy, f32(tf.step(x)))),
  unary(tf.Relu6, (dy, x) => tf.mul(dy, f32(tf.mul(tf.lessEqual(x, 6), tf.step(x))))),
  unary(tf.Elu, (dy, y) => tf.engine().runKernel(tf.EluGrad, { dy, y }) as tf.Tensor, true),
  {
    kernelName: tf.LeakyRelu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const g = dy as tf.Tensor;
      return { x: () => tf.where(tf.greater(saved[0], 0), g, tf.mul(g, attrs.alpha as number)) };
    },
  },
  {
    kernelName: tf.ClipByValue,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const g = dy as tf.Tensor;
      const inside = tf.logicalAnd(tf.greaterEqual(x, attrs.clipValueMin as number), tf.lessEqual(x, attrs.clipValueMax as number));
      return { x: () => tf.where(inside, g, tf.zerosLike(g)) };
    },
  },
  {
    kernelName: tf.Select,
    inputsToSave: ['condition'],
    gradFunc: (dy, saved) => {
      const [condition] = saved;
      const g = dy as tf.Tensor;
      return {
        condition: () => f32(tf.zerosLike(condition)),
        t: () => tf.mul(g, tf.cast(condition, g.dtype)),
        e: () => tf.mul(g, tf.cast(tf.logicalNot(condition), g.dtype)),
      };
    },
  },
  { kernelName: tf.Cast, gradFunc: (dy) => ({ x: () => (dy as tf.Tensor).clone() }) },
  { kernelName: tf.Identity, gradFunc: (dy) => ({ x: () => f32(dy as tf.Tensor) }) },
  ...[tf.Step, tf.Sign, tf.Floor, tf.Round, tf.ZerosLike, tf.OnesLike, tf.LogicalNot].map(
    (kernelName): Grad => ({ kernelName, gradFunc: (dy) => ({ x: () => tf.zerosLike(dy as tf.Tensor) }) }),
  ),
  // Comparisons: zero gradient, so a mask computed from a variable (tf.where(x > 0, …)) does
  // not stop backprop with "gradient function not found".
  ...[tf.Greater, tf.GreaterEqual, tf.Less, tf.LessEqual, tf.Equal, tf.NotEqual, tf.LogicalAnd, tf.LogicalOr].map(
    (kernelName): Grad => ({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, [a, b]) => ({ a: () => tf.zerosLike(a), b: () => tf.zerosLike(b) }),
    }),
  ),
  {
    kernelName: tf.AddN,
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [i, () => (dy as tf.Tensor).clone()])),
  },
];
