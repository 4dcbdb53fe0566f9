import { cpus, totalmem } from 'node:os';
import type { EnvironmentInfo } from './store';

/** Versions of the packages that shape results, read from their package.json (absent ones left out). */
export function packageVersions(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    try {
      out[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      // not installed here
    }
  }
  return out;
}

export function captureEnvironment(extra: { backend?: string; threads?: number; packages?: string[] } = {}): EnvironmentInfo {
  const cpu = cpus();
  return {
    backend: extra.backend,
    threads: extra.threads,
    nodeVersion: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: cpu[0]?.model?.trim() ?? 'unknown',
    cpuCount: cpu.length,
    totalMemoryMB: Math.round(totalmem() / 2 ** 20),
    versions: { node: process.versions.node, v8: process.versions.v8, ...packageVersions(extra.packages ?? []) },
  };
}
