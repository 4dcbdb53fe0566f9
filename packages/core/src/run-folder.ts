import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { saveSafetensors } from '@leantune/tensor';
import { RunError, errorMessage } from './errors';
import type { Run } from './run';
import { CORE_VERSION } from './version';
import type { Artifacts, Metrics } from './types';

/** Writes via a temp file and a rename, so a reader never sees a half-written file. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** Where the numbers came from: backend, threads, versions. */
function environment(run: Run): Record<string, unknown> {
  return {
    backend: run.context.backend,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    core: CORE_VERSION,
    plugins: run.toolkit.plugins.map(({ plugin }) => `${plugin.meta.name}@${plugin.meta.version}`),
  };
}

function timestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/**
 * The run folder `<output.dir>/<timestamp>-<name>`: the resolved config, the metrics and
 * the trained parameters (only those that trained: the adapter, not the frozen base).
 * Created only here, after training, so a run that fails validation writes nothing.
 */
export async function saveRunFolder(run: Run, metrics: Metrics, baseDir = process.cwd()): Promise<Artifacts> {
  const model = run.model;
  if (!model) throw new RunError('Nothing to save: the run has no model loaded.');
  const dir = resolve(baseDir, run.config.output.dir, `${timestamp()}-${run.config.name}`);
  try {
    mkdirSync(dir, { recursive: true });
    const files = {
      config: join(dir, 'config.json'),
      metrics: join(dir, 'metrics.json'),
      environment: join(dir, 'environment.json'),
      trainable: join(dir, 'trainable.safetensors'),
    };
    writeFileAtomic(files.config, `${JSON.stringify(run.config, null, 2)}\n`);
    writeFileAtomic(files.environment, `${JSON.stringify(environment(run), null, 2)}\n`);
    writeFileAtomic(files.metrics, `${JSON.stringify(metrics, null, 2)}\n`);
    const methods = Object.keys(run.config.methods).join(',');
    saveSafetensors(files.trainable, model.module.trainableVariables(), { model: model.name, arch: model.arch, methods });
    const artifacts: Artifacts = { dir, files };
    await run.save(artifacts);
    return artifacts;
  } catch (err) {
    throw new RunError(`Could not write the run folder ${dir}: ${errorMessage(err)}`, { cause: err });
  }
}
