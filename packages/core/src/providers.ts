import { ConfigError } from './errors';
import { importPlugin, pluginPackagesFor, resolvePlugin, shortPluginName } from './resolve';
import { didYouMean } from './suggest';
import { Toolkit } from './toolkit';
import type { ConfigSource } from './config/load';
import type { Logger, ModelSpec } from './types';

/** What a config names that some plugin must provide. */
export type ProvidedKind = 'method' | 'stage' | 'model';

const silent: Logger = { info: () => undefined, warn: () => undefined };

function recognises(loader: { test(spec: ModelSpec): boolean }, spec: ModelSpec): boolean {
  try {
    return loader.test(spec) === true;
  } catch {
    return false;
  }
}

function provides(toolkit: Toolkit, kind: ProvidedKind, name: string): boolean {
  if (kind === 'method') return toolkit.methods.has(name);
  if (kind === 'stage') return toolkit.stages.get(name) !== undefined;
  return toolkit.models.list().some((l) => l.models?.includes(name) || recognises(l, { name }));
}

/**
 * The installed plugin packages a config in `fromDir` could enable but does not, each
 * applied to a scratch toolkit so it can be asked what it provides. Only on error paths:
 * it loads every such package. Packages that fail to load are left out.
 */
export async function installedNotEnabled(fromDir: string, enabled: Toolkit): Promise<Array<{ pkg: string; toolkit: Toolkit }>> {
  const enabledNames = new Set(enabled.plugins.map((p) => p.plugin.meta.name));
  const out: Array<{ pkg: string; toolkit: Toolkit }> = [];
  for (const pkg of pluginPackagesFor(fromDir)) {
    if (enabledNames.has(pkg)) continue;
    try {
      const where = `installed package ${pkg}`;
      const plugin = await importPlugin(resolvePlugin(`module:${pkg}`, fromDir, where), where);
      if (enabledNames.has(plugin.meta.name)) continue;
      const toolkit = new Toolkit({
        log: silent,
        resolveDependency: async (dep) => ({ plugin: await importPlugin(resolvePlugin(dep, fromDir, where), where) }),
      });
      await toolkit.use([plugin]);
      out.push({ pkg, toolkit });
    } catch {
      // A broken install is not what the user asked about; `leantune plugins` reports it.
    }
  }
  return out;
}

/** `method "vera" is provided by @acme/leantune-plugin-vera, installed but not enabled: add "@acme/vera" to plugins`, or undefined. */
export function enableHint(kind: ProvidedKind, name: string, candidates: ReadonlyArray<{ pkg: string; toolkit: Toolkit }>): string | undefined {
  const found = candidates.find((c) => provides(c.toolkit, kind, name));
  if (!found) return undefined;
  return `${kind} "${name}" is provided by ${found.pkg}, installed but not enabled: add "${shortPluginName(found.pkg)}" to plugins`;
}

/** owner/name (openai/gpt2), or a bare name of a well-known Hub checkpoint family (bert-base-uncased). */
const HUB_OWNER_REPO = /^[A-Za-z0-9][\w-]*\/[\w.-]+$/;
const HUB_FAMILY = /^(distil)?(bert|roberta|gpt2|gpt-2|vit|clip|albert|deberta|electra|t5|bart|xlm|mobilebert|minilm|all-minilm)([-_.]|$)/i;

export function looksLikeHubModel(name: string): boolean {
  return HUB_OWNER_REPO.test(name) || HUB_FAMILY.test(name);
}

function hubHint(name: string, hfEnabled: boolean): string {
  const folder = `models/${name.split('/').pop()}`;
  return (
    ` "${name}" looks like a Hugging Face Hub model: download it with \`leantune pull ${name} -o ${folder}\`, ` +
    `${hfEnabled ? '' : 'add "hf" to plugins, '}and set "model": { "name": "hf", "path": "${folder}" }.`
  );
}

/**
 * The error for a model no enabled loader recognises: the installed plugin that provides
 * it, else a Hub pointer for names such as `bert-base-uncased` or `openai/gpt2`, else close
 * matches among the names the loaders know.
 */
export async function unknownModelError(toolkit: Toolkit, spec: ModelSpec, fromDir: string, source?: ConfigSource): Promise<ConfigError> {
  const loaders = toolkit.models.list();
  const asked = loaders.map((l) => l.name).join(', ') || 'none (enable a model plugin)';
  const enable = enableHint('model', spec.name, await installedNotEnabled(fromDir, toolkit));
  let hint = enable ? ` The ${enable}.` : '';
  if (!hint && looksLikeHubModel(spec.name)) hint = hubHint(spec.name, loaders.some((l) => l.name === 'hf'));
  if (!hint) hint = didYouMean(spec.name, loaders.flatMap((l) => l.models ?? []));
  const at = source?.locate('/model');
  const prefix = source ? `${source.file}${at ? `:${at.line}:${at.column}` : ''}: /model: ` : '';
  return new ConfigError(`${prefix}No model loader recognised model "${spec.name}". Loaders asked: ${asked}.${hint}`);
}

/** Throws unknownModelError unless an enabled model loader recognises `spec` (what `validate` checks). */
export async function checkModelKnown(toolkit: Toolkit, spec: ModelSpec, fromDir: string, source?: ConfigSource): Promise<void> {
  if (toolkit.models.list().some((l) => recognises(l, spec))) return;
  throw await unknownModelError(toolkit, spec, fromDir, source);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A config error about unknown `methods` or `data.stages` keys, with each key that an
 * installed but not enabled plugin provides explained as such (instead of "Did you mean").
 */
export async function withEnableHints(err: unknown, data: unknown, toolkit: Toolkit, fromDir: string): Promise<unknown> {
  if (!(err instanceof ConfigError)) return err;
  const config = (data ?? {}) as { methods?: Record<string, unknown>; data?: { stages?: Record<string, unknown> } };
  const unknown: Array<{ kind: ProvidedKind; name: string; pointer: string }> = [
    ...Object.keys(config.methods ?? {}).filter((id) => !toolkit.methods.has(id)).map((name) => ({ kind: 'method' as const, name, pointer: `/methods/${name}` })),
    ...Object.keys(config.data?.stages ?? {}).filter((s) => !toolkit.stages.get(s)).map((name) => ({ kind: 'stage' as const, name, pointer: `/data/stages/${name}` })),
  ];
  if (!unknown.length) return err;
  const candidates = await installedNotEnabled(fromDir, toolkit);
  let message = err.message;
  for (const { kind, name, pointer } of unknown) {
    const hint = enableHint(kind, name, candidates);
    if (hint) message = message.replace(new RegExp(`(${escape(pointer)}: )unknown key "${escape(name)}"\\.[^\\n]*`), `$1${hint}.`);
  }
  return message === err.message ? err : new ConfigError(message, { cause: err });
}
