import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFileWriter } from '../src';
import { readEvents } from './read-events';

// Google's own protobuf runtime as a third, independent reader. It is not a dependency of
// the project (CI's machines need not have python3-protobuf): without it this test is skipped.
// Debian's python3-protobuf serves /usr/bin/python3, which a pyenv python3 on PATH may hide.
const python = ['/usr/bin/python3', 'python3'].find((exe) => spawnSync(exe, ['-c', 'import google.protobuf']).status === 0);

(python ? describe : describe.skip)('event files read by python3-protobuf (test/read_events.py)', () => {
  it('parses every record as tensorflow.Event with both CRCs verified, the same events the JS reader sees', () => {
    const writer = new EventFileWriter();
    const file = writer.open(mkdtempSync(join(tmpdir(), 'tb-py-')));
    writer.scalars(1, { 'train/loss': 0.6931, 'train/lr': 0.05 });
    writer.scalars(12, { 'eval/accuracy': 0.75, 'eval/f1/spam': 0.5 });
    writer.close();
    const out = spawnSync(python!, [join(__dirname, 'read_events.py'), file], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    const fromPython = out.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(fromPython.map((e) => ({ wallTime: e.wall_time, step: e.step, ...(e.file_version ? { fileVersion: e.file_version } : {}), scalars: e.scalars ?? {} }))).toEqual(readEvents(file));
    expect(fromPython[0].file_version).toBe('brain.Event:2');
  });
});
