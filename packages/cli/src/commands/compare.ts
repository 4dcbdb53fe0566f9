import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, RunError, didYouMean, type CompareEntry } from '@leantune/core';
import type { CliIO } from '../main';
import { fromConfig } from '../toolkit-from-args';
import type { RunSummary } from '@leantune/runner';

const BIN = join(__dirname, '..', '..', 'bin', 'leantune.js');

interface Arm {
  id: string;
  label: string;
  config: Record<string, unknown>;
}

function toArm(entry: CompareEntry, configured: Record<string, Record<string, unknown>>): Arm {
  if (typeof entry === 'string') return { id: entry, label: entry, config: configured[entry] ?? {} };
  return { id: entry.id, label: entry.label ?? entry.id, config: entry.config ?? configured[entry.id] ?? {} };
}

/** Runs one arm in its own process, so its time and peak memory are its own. */
function trainArm(configFile: string, override: Record<string, unknown>, io: CliIO): Promise<RunSummary> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, 'train', '-c', configFile, '--override', JSON.stringify(override)], {
      cwd: io.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      io.err(String(d));
    });
    child.on('close', (code) => {
      if (code === 0) return done(JSON.parse(out.trim().split('\n').at(-1)!));
      fail(new RunError(`arm "${override.name}" failed (exit ${code}): ${err.trim().split('\n').at(-1)}`));
    });
  });
}

const pct = (x: number) => `${x < 0.1 ? x.toFixed(3) : x.toFixed(2)}%`;
const kb = (bytes: number) => (bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);
const num = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(4));

export function compareTable(results: Array<{ arm: Arm; summary: RunSummary }>): string {
  const lines = [
    '| method | trainable | % of all | accuracy | macro-F1 | train s | peak RSS MB | saved | full model |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const { arm, summary: s } of results) {
    lines.push(
      `| ${arm.label} | ${s.trainable.toLocaleString('en')} | ${pct(s.trainablePercent)} | ${num(s.metrics.accuracy)} | ${num(s.metrics.macro_f1)} | ${s.trainSeconds.toFixed(1)} | ${s.peakRssMB.toFixed(0)} | ${kb(s.savedBytes)} | ${kb(s.modelBytes)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * `leantune compare`: the same model, data and schedule, once per method, side by side.
 * Every arm's config is validated before the first one trains.
 */
export async function runCompare(configFile: string | undefined, io: CliIO, methodsFlag?: string): Promise<void> {
  const { toolkit, config, source, configDir } = await fromConfig(configFile);
  const entries: CompareEntry[] | undefined = methodsFlag ? methodsFlag.split(',').map((s) => s.trim()) : config.compare?.methods;
  if (!entries?.length) {
    throw new ConfigError(`Nothing to compare in ${source.file}: add "compare": { "methods": ["lora", "adapter", ...] } or pass --methods lora,adapter`);
  }
  const arms = entries.map((e) => toArm(e, config.methods));
  const overrides = arms.map((arm) => {
    if (!toolkit.methods.has(arm.id)) {
      throw new ConfigError(`compare: method "${arm.id}" is not registered by the enabled plugins.${didYouMean(arm.id, toolkit.methods.ids())} Registered: ${toolkit.methods.ids().join(', ')}`);
    }
    const override = { name: `${config.name}-${arm.label}`, methods: { [arm.id]: structuredClone(arm.config) } };
    // Validate now (on a copy): a typo in the last arm must not cost the first arms' training.
    toolkit.resolveConfig({ ...structuredClone({ ...config, compare: undefined }), ...structuredClone(override) });
    return override;
  });
  const results: Array<{ arm: Arm; summary: RunSummary }> = [];
  for (const [i, arm] of arms.entries()) {
    io.err(`compare: arm ${i + 1}/${arms.length}: ${arm.label}\n`);
    results.push({ arm, summary: await trainArm(source.file, overrides[i], io) });
  }
  const table = compareTable(results);
  // The arms' run folders and the table share output.dir, from the config's folder (the embedded default: the current one).
  const dir = resolve(configFile ? configDir : io.cwd, config.output.dir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `compare-${new Date().toISOString().replace(/[:.]/g, '-')}-${config.name}`);
  writeFileSync(`${file}.json.tmp`, JSON.stringify({ config: source.file, results }, null, 2));
  renameSync(`${file}.json.tmp`, `${file}.json`);
  writeFileSync(`${file}.md.tmp`, `${table}\n`);
  renameSync(`${file}.md.tmp`, `${file}.md`);
  io.out(`${table}\n\nWrote ${file}.json and ${file}.md\n`);
}
