import { ConfigError, errorMessage, hasPrefixedSegment, METHOD_FAMILIES, type JSONSchema } from '@leantune/core';
import { contractConfig, contractToolkit, openSession } from './fixture';
import { runCheck } from './result';
import type { CheckResult, InvalidConfigCase, MethodContractOptions } from './types';

/** A key no method declares: every method's schema must reject unknown keys (typos). */
export const UNKNOWN_KEY = 'contract_unknown_key';

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Top-level keys the schema gives a default, which the second validation pass must fill. */
function schemaDefaults(schema: JSONSchema): string[] {
  const properties = (schema.properties ?? {}) as Record<string, { default?: unknown }>;
  return Object.keys(properties).filter((key) => properties[key] && 'default' in properties[key]);
}

/**
 * 1. The plugin registers the method under its id, with a family and (when it has one) a prefix
 * that names no parameter of the base model; the config passes both validation passes, defaults filled.
 */
export function checkRegistration(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('registration', options, async (r) => {
    const toolkit = await contractToolkit(options);
    const method = toolkit.methods.get(options.method);
    if (!method) {
      r.fail(`plugin ${options.plugin.meta.name} registered no method "${options.method}" (it registered: ${toolkit.methods.ids().join(', ') || 'none'})`);
      return;
    }
    Object.assign(r.measured, { prefix: method.prefix, family: method.family, plugin: method.plugin });
    if (method.plugin !== options.plugin.meta.name) r.fail(`method "${method.id}" was registered by ${method.plugin}, not by the plugin under test`);
    if (!METHOD_FAMILIES.includes(method.family)) r.fail(`family "${method.family}" is not one of ${METHOD_FAMILIES.join(', ')}`);

    const base = await openSession(options, false);
    try {
      const prefix = method.prefix;
      const clashes = prefix === undefined ? [] : [...base.model.module.namedParameters()].map(([path]) => path).filter((path) => hasPrefixedSegment(prefix, path));
      if (clashes.length) {
        r.fail(`prefix "${method.prefix}" already names base parameters (${clashes.slice(0, 5).join(', ')}): pick a prefix that no base model path segment starts with`);
      }
    } finally {
      base.dispose();
    }

    let resolved: Record<string, unknown>;
    try {
      resolved = toolkit.resolveConfig(contractConfig(options)).methods[options.method];
    } catch (err) {
      r.fail(`the contract config ${JSON.stringify(options.config)} is rejected: ${errorMessage(err)}`);
      return;
    }
    for (const [key, value] of Object.entries(options.config)) {
      if (!sameJson(resolved[key], value)) r.fail(`validation changed "${key}" from ${JSON.stringify(value)} to ${JSON.stringify(resolved[key])}`);
    }
    const filled = schemaDefaults(method.configSchema).filter((key) => !(key in options.config));
    const unfilled = filled.filter((key) => !(key in resolved));
    if (unfilled.length) r.fail(`configSchema declares defaults for ${unfilled.join(', ')}, but validation did not fill them in (a default inside anyOf/oneOf is ignored; put it on the property)`);
    r.measured.defaultsFilled = filled.filter((key) => key in resolved);
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function expectedPointer(method: string, c: InvalidConfigCase): string {
  const keys = Object.keys(c.config);
  return c.pointer ?? (keys.length === 1 ? `/methods/${method}/${keys[0]}` : `/methods/${method}`);
}

/**
 * 7. Each invalid config (plus one with an unknown key) fails the second validation pass with
 * a ConfigError that names its JSON pointer and gives a reason after it.
 */
export function checkInvalidConfigs(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('invalid-configs', options, async (r) => {
    const toolkit = await contractToolkit(options);
    const cases: InvalidConfigCase[] = [
      ...(options.invalidConfigs ?? []),
      { config: { ...options.config, [UNKNOWN_KEY]: true }, pointer: `/methods/${options.method}/${UNKNOWN_KEY}`, message: /unknown key/ },
    ];
    const messages: string[] = [];
    cases.forEach((c, i) => {
      const what = `invalidConfigs[${i}] ${JSON.stringify(c.config)}`;
      const config = { ...contractConfig(options), methods: { [options.method]: structuredClone(c.config) } };
      try {
        toolkit.resolveConfig(config);
        r.fail(`${what} was accepted; the method's configSchema must reject it`);
        return;
      } catch (err) {
        const message = errorMessage(err);
        messages.push(message);
        if (!(err instanceof ConfigError)) r.fail(`${what} failed with ${(err as Error)?.name ?? typeof err}, not a ConfigError: ${message}`);
        const pointer = expectedPointer(options.method, c);
        if (!new RegExp(`${escapeRegExp(pointer)}: \\S`).test(message)) r.fail(`${what}: the message does not name ${pointer} followed by a reason: ${message}`);
        if (c.message && !c.message.test(message)) r.fail(`${what}: the message does not match ${c.message}: ${message}`);
      }
    });
    r.measured.cases = cases.length;
    r.measured.messages = messages;
  });
}
