import type { DataRecord } from '@leantune/core';

/**
 * Four side×side images (encode resizes them to the model's input), two reddish ("warm")
 * and two bluish ("cold"), with some texture: a two-class problem a few steps can learn.
 */
export function warmColdRecords(side: number): DataRecord[] {
  return [0, 1, 2, 3].map((i) => {
    const warm = i % 2 === 0;
    const px = new Uint8Array(side * side * 3);
    for (let p = 0; p < side * side; p++) {
      const t = ((p * (i + 3)) % 97) / 97;
      px.set(warm ? [200 + 50 * t, 60 * t, 30] : [30, 80 * t, 180 + 70 * t], p * 3);
    }
    return { id: `r${i}`, image: px, label: warm ? 'warm' : 'cold', meta: { source: 'test', row: i } };
  });
}
