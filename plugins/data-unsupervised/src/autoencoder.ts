import { Activation, Linear, Module, Sequential, setSeed, tf } from '@leantune/tensor';
import { fit } from '@leantune/train';
import type { Matrix } from './matrix';

/** Dense autoencoder d → hidden → k → hidden → d; the k-wide bottleneck is the feature vector. */
export class DenseAutoencoder extends Module {
  readonly encoder: Sequential;
  readonly decoder: Sequential;

  constructor(
    readonly inputDim: number,
    readonly latent: number,
    readonly hidden: number,
    readonly output: 'sigmoid' | 'linear',
  ) {
    super();
    this.encoder = this.addModule('encoder', new Sequential(new Linear(inputDim, hidden), new Activation('relu'), new Linear(hidden, latent)));
    this.decoder = this.addModule('decoder', new Sequential(new Linear(latent, hidden), new Activation('relu'), new Linear(hidden, inputDim)));
  }

  encode(x: tf.Tensor): tf.Tensor {
    return this.encoder.forward(x);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = this.decoder.forward(this.encode(x));
      return this.output === 'sigmoid' ? tf.sigmoid(y) : y;
    });
  }
}

export interface AutoencoderOptions {
  latent: number;
  hidden?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** 'sigmoid' for data in [0, 1] (pixels), 'linear' otherwise; default from the data's range. */
  output?: 'sigmoid' | 'linear';
}

export interface TrainedAutoencoder {
  model: DenseAutoencoder;
  /** Mean reconstruction MSE per epoch. */
  history: number[];
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`autoencoder: ${name} must be a positive integer (got ${v})`);
}

/** Trains with @leantune/train's fit on reconstruction MSE (AdamW, seeded init and order). */
export async function trainAutoencoder(x: Matrix, options: AutoencoderOptions): Promise<TrainedAutoencoder> {
  const { latent, hidden = 128, epochs = 5, batchSize = 64, lr = 1e-3, seed = 0 } = options;
  positiveInt('latent', latent);
  positiveInt('hidden', hidden);
  positiveInt('epochs', epochs);
  positiveInt('batchSize', batchSize);
  if (!(lr > 0)) throw new Error(`autoencoder: lr must be > 0 (got ${lr})`);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const output = options.output ?? (lo >= 0 && hi <= 1 ? 'sigmoid' : 'linear');
  setSeed(seed);
  const model = new DenseAutoencoder(x.cols, latent, hidden, output);
  const result = await fit<tf.Tensor2D>({
    model,
    loss: (batch) => tf.tidy(() => tf.mean(tf.squaredDifference(model.forward(batch), batch)) as tf.Scalar),
    trainSet: {
      length: x.rows,
      getBatch: (idx: number[]) => {
        const rows = new Float32Array(idx.length * x.cols);
        idx.forEach((r, i) => rows.set(x.data.subarray(r * x.cols, (r + 1) * x.cols), i * x.cols));
        return tf.tensor2d(rows, [idx.length, x.cols]);
      },
    },
    epochs,
    batchSize,
    optimizer: { name: 'adamw', lr, weightDecay: 0 },
    seed,
  });
  return { model, history: result.epochLogs.map((l) => l.trainLoss) };
}

/** Bottleneck features of every row, batch by batch (n×k). */
export function encodeMatrix(model: DenseAutoencoder, x: Matrix, batchSize = 512): Matrix {
  if (x.cols !== model.inputDim) throw new Error(`autoencoder encode: input has ${x.cols} features, the model takes ${model.inputDim}`);
  const out = new Float32Array(x.rows * model.latent);
  model.eval();
  for (let start = 0; start < x.rows; start += batchSize) {
    const n = Math.min(batchSize, x.rows - start);
    const z = tf.tidy(() => model.encode(tf.tensor2d(x.data.subarray(start * x.cols, (start + n) * x.cols), [n, x.cols])));
    out.set(z.dataSync(), start * model.latent);
    z.dispose();
  }
  return { data: out, rows: x.rows, cols: model.latent };
}
