import { runScript } from '../harness';

// The measurement the whole suite relies on: a child that holds 200 MB shows a peak above
// that, one that holds nothing stays far below it, and a killed child reports its signal.
describe('reliability harness', () => {
  it('reads a child process peak resident memory', async () => {
    const big = await runScript('const b = Buffer.alloc(200 * 1024 * 1024, 1); setTimeout(() => console.log(b[7]), 100);');
    expect(big.code).toBe(0);
    expect(big.peakMB).toBeGreaterThan(200);
    const small = await runScript('setTimeout(() => {}, 100);');
    expect(small.peakMB).toBeGreaterThan(10);
    expect(small.peakMB).toBeLessThan(150);
  });
  it('kills a child at a set time and says so', async () => {
    const r = await runScript('setTimeout(() => {}, 10000);', { killAfterMs: 200 });
    expect(r.signal).toBe('SIGKILL');
    expect(r.seconds).toBeLessThan(5);
  });
});
