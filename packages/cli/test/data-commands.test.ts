import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@leantune/cli';

const fixtures = join(__dirname, '..', '..', '..', 'e2e', 'tests', 'test', 'fixtures');
const config = join(fixtures, 'shift.json');
const dir = mkdtempSync(join(tmpdir(), 'lt-data-cli-'));

async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['node', 'leantune', ...args], { out: (s) => void (out += s), err: (s) => void (err += s), cwd: dir });
  return { code, out, err };
}

describe('leantune data', () => {
  it('packs the config\'s dataset, unpacks it verified, and names a corrupted shard', async () => {
    const packed = await cli('data', 'pack', '-c', config, '-o', 'pack');
    expect(packed.code).toBe(0);
    expect(JSON.parse(packed.out).records).toMatchObject({ records: 64, labels: { neg: 32, pos: 32 } });
    const unpacked = await cli('data', 'unpack', 'pack');
    expect(unpacked.code).toBe(0);
    const lines = unpacked.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(64);
    expect(lines[0]).toMatchObject({ id: 'tiny-0', label: 'pos', meta: { source: 'tiny-sentiment', row: 0 } });
    const shard = readdirSync(join(dir, 'pack', 'shards'))[0];
    const file = join(dir, 'pack', 'shards', shard);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(file, bytes);
    const broken = await cli('data', 'unpack', 'pack');
    expect(broken.code).toBe(1);
    expect(broken.err).toContain(shard);
  });

  it('reports no drift between a dataset and itself, and rejects a spec without a name', async () => {
    const same = await cli('data', 'drift', '-c', config, '--reference', 'tiny-sentiment', '--current', 'tiny-sentiment');
    expect(same.code).toBe(0);
    expect(same.out).toContain('mean PSI 0.0000');
    expect(same.out).toContain('Recommendation: no action.');
    const bad = await cli('data', 'drift', '-c', config, '--reference', '{"limit": 3}', '--current', 'tiny-sentiment');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--reference must be a dataset name or a JSON dataset spec');
  });
});
