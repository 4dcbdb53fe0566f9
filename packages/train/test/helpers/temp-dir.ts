import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh temp folder for each test of the calling describe block, removed after it: read `.path` inside tests. */
export function freshTempDir(prefix: string): { readonly path: string } {
  const holder = { path: '' };
  beforeEach(() => {
    holder.path = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterEach(() => fs.rmSync(holder.path, { recursive: true, force: true }));
  return holder;
}
