import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { main } from '@leantune/cli';

export const fixtures = join(__dirname, 'fixtures');
export const tinyLora = join(fixtures, 'tiny-lora.json');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A copy of a fixture config in `dir`, as a user's project holds its config: its relative
 * plugin paths made absolute, so its output.dir ("runs") resolves to <dir>/runs.
 */
export function localConfig(dir: string, file = tinyLora): string {
  const config = JSON.parse(readFileSync(file, 'utf8'));
  // The fixtures lie outside the temp folder the copy goes to: allowed explicitly, as a user would.
  config.plugins = config.plugins.map((p: string) => (p.startsWith('./') ? { name: join(fixtures, p), allowOutside: true } : p));
  const copy = join(dir, basename(file));
  writeFileSync(copy, JSON.stringify(config, null, 2));
  return copy;
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process, capturing stdout and stderr. */
export async function cli(cwd: string, args: string[], stdin?: Uint8Array): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await main(['node', 'leantune', ...args], {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    cwd,
    readStdin: async () => stdin ?? new Uint8Array(),
  });
  return { code, out, err };
}

/** The single run folder under <cwd>/<output>. */
export function onlyRun(cwd: string, output = 'runs'): string {
  const dirs = readdirSync(join(cwd, output));
  if (dirs.length !== 1) throw new Error(`expected one run folder in ${output}, found ${dirs.join(', ')}`);
  return join(cwd, output, dirs[0]);
}

export const jsonLines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l));
