import { importPlugin, pluginEntryParts, resolvePlugin, type PluginEntry } from '@leantune/core';

/** A plugin a job's config needs, at the version its coordinator resolved. */
export interface PluginRequirement {
  name: string;
  version: string;
}

/** Whether `have` can stand in for `want`: the same major version (the same minor below 1.0), at least as new. */
export function compatibleVersion(want: string, have: string): boolean {
  const parse = (v: string) => /^(\d+)\.(\d+)\.(\d+)/.exec(v)?.slice(1).map(Number);
  const w = parse(want);
  const h = parse(have);
  if (!w || !h) return want === have;
  if (w[0] !== h[0]) return false;
  if (w[0] === 0 && w[1] !== h[1]) return false;
  for (let i = 0; i < 3; i++) if (h[i] !== w[i]) return h[i] > w[i];
  return true;
}

/**
 * What stops this machine from running a config: each plugin it names resolved from `dir`
 * (the worker's project folder) as `leantune train` would, and each required plugin present
 * at a compatible version. Loads plugin modules installed here; the job brings none.
 */
export async function missingPlugins(config: Record<string, unknown>, required: PluginRequirement[], dir: string): Promise<string[]> {
  const problems: string[] = [];
  const have = new Map<string, string>();
  for (const entry of (config.plugins ?? []) as PluginEntry[]) {
    const { request, allowOutside } = pluginEntryParts(entry);
    try {
      const plugin = await importPlugin(resolvePlugin(request, dir, `the job's plugins`, { allowOutside }), `the job's plugins`);
      have.set(plugin.meta.name, plugin.meta.version);
    } catch (err) {
      problems.push(`plugin "${request}" is not installed here (${(err as Error).message.split('\n')[0]})`);
    }
  }
  for (const want of required) {
    let version = have.get(want.name);
    if (version === undefined) {
      try {
        version = (await importPlugin(resolvePlugin(want.name, dir, 'a dependency of the job'), 'a dependency of the job')).meta.version;
      } catch {
        problems.push(`plugin ${want.name}@${want.version} is not installed here`);
        continue;
      }
    }
    if (!compatibleVersion(want.version, version)) problems.push(`plugin ${want.name} is ${version} here, the job needs a version compatible with ${want.version}`);
  }
  return [...new Set(problems)];
}
