import type { DataRecord } from '@leantune/core';
import { createRng, deriveSeed, shuffle } from '@leantune/data';

/**
 * A uniform sample of everything seen so far, in fixed memory (Vitter's Algorithm R): item t
 * (0-based) replaces a random slot with probability capacity/(t+1). Seeded, and resumable:
 * the random stream after `seen` items is derived from (seed, seen).
 */
export class ReservoirBuffer<T = DataRecord> {
  private readonly slots: T[];
  private rng: () => number;

  constructor(
    readonly capacity: number,
    readonly seed: number,
    private count = 0,
    initial: readonly T[] = [],
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`ReservoirBuffer: capacity must be a positive integer (got ${capacity})`);
    if (initial.length > capacity) throw new Error(`ReservoirBuffer: ${initial.length} initial items exceed the capacity ${capacity}`);
    if (!Number.isInteger(count) || count < initial.length) throw new Error(`ReservoirBuffer: seen (${count}) must be an integer >= the ${initial.length} items held`);
    this.slots = [...initial];
    this.rng = createRng(deriveSeed(seed, `reservoir:${count}`));
  }

  /** Items offered so far. */
  get seen(): number {
    return this.count;
  }

  get size(): number {
    return this.slots.length;
  }

  add(item: T): void {
    if (this.slots.length < this.capacity) this.slots.push(item);
    else {
      const j = Math.floor(this.rng() * (this.count + 1));
      if (j < this.capacity) this.slots[j] = item;
    }
    this.count++;
  }

  addAll(items: Iterable<T>): this {
    for (const item of items) this.add(item);
    return this;
  }

  items(): T[] {
    return [...this.slots];
  }
}

export interface RehearsalMix {
  records: DataRecord[];
  /** Replay records added (copies when the buffer had to be cycled). */
  replayed: number;
  /** Distinct buffer records used. */
  unique: number;
}

/**
 * New records plus replayed old ones so that replay makes up `ratio` of the result
 * (nReplay = round(ratio/(1−ratio)·nNew)). Replays are drawn in a seeded order, cycling the
 * buffer if it is smaller; repeats get ids `<id>#replay-<k>`. Every replay has meta.replay.
 * fit shuffles the whole set each epoch, so each batch holds `ratio` replay on average.
 */
export function mixRehearsal(newRecords: readonly DataRecord[], buffer: readonly DataRecord[], options: { ratio: number; seed: number }): RehearsalMix {
  const { ratio } = options;
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`rehearsal: ratio is the replayed share of the training set and must be in [0, 1) (got ${ratio})`);
  if (ratio > 0 && buffer.length === 0) throw new Error('rehearsal: the replay buffer is empty; fill it with old-task records (ReservoirBuffer.addAll) first');
  const wanted = ratio === 0 ? 0 : Math.round((ratio / (1 - ratio)) * newRecords.length);
  const order = shuffle(buffer, deriveSeed(options.seed, 'rehearsal'));
  const replay: DataRecord[] = [];
  for (let i = 0; i < wanted; i++) {
    const r = order[i % order.length];
    const round = Math.floor(i / order.length);
    replay.push({ ...r, id: round === 0 ? r.id : `${r.id}#replay-${round}`, meta: { ...r.meta, replay: true } });
  }
  return { records: [...newRecords, ...replay], replayed: replay.length, unique: Math.min(wanted, order.length) };
}
