import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataRecord, Logger } from '@leantune/core';
import type { tf } from '@leantune/tensor';

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lt-hf-${label}-`));
}

/** A logger that records warnings, so tests can assert on them. */
export function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info: () => undefined, warn: (m: string) => void warnings.push(m) };
}

export function record(id: string, fields: Partial<DataRecord>): DataRecord {
  return { id, meta: { source: 'test', row: 0 }, ...fields };
}

/** Deterministic 8×8 RGB bytes. */
export function testImage(seed: number, size = 8): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(size * size * 3).map((_, i) => (i * 37 + seed * 101) % 256);
  return { width: size, height: size, data };
}

export function rows(t: tf.Tensor): number[][] {
  return t.arraySync() as number[][];
}

/** Every value within `tol` of the reference (absolute), with a readable failure. */
export function expectClose(actual: number[], expected: number[], tol = 2e-4): void {
  expect(actual).toHaveLength(expected.length);
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i])));
  if (!(worst <= tol)) throw new Error(`max |diff| ${worst} > ${tol}\nactual   ${actual.join(', ')}\nexpected ${expected.join(', ')}`);
}
