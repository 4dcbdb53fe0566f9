import { MethodRegistry, StageRegistry, RegistryError, type MethodDefinition } from '@leantune/core';

const method = (id: string, prefix: string, extra: Partial<MethodDefinition> = {}): MethodDefinition => ({
  id,
  prefix,
  family: 'reparameterization',
  configSchema: { type: 'object' },
  inject: (m) => m,
  ...extra,
});

describe('MethodRegistry', () => {
  it('keeps an open set of ids with their owners', () => {
    const r = new MethodRegistry();
    r.register(method('lora', 'lora_'), '@leantune/plugin-lora');
    r.register(method('acme-shift', 'shift_'), '@acme/leantune-plugin-shift');
    expect(r.ids()).toEqual(['lora', 'acme-shift']);
    expect(r.get('acme-shift')?.plugin).toBe('@acme/leantune-plugin-shift');
  });

  it('rejects a duplicate id, naming both plugins', () => {
    const r = new MethodRegistry();
    r.register(method('lora', 'lora_'), 'p1');
    expect(() => r.register(method('lora', 'other_'), 'p2')).toThrow(
      new RegistryError('Duplicate method id "lora": registered by p1 and again by p2. Enable only one of them, or rename one method\'s id.'),
    );
  });

  it('rejects a prefix equal to, or a prefix of, another method\'s', () => {
    const r = new MethodRegistry();
    r.register(method('lora', 'lora_'), 'p1');
    expect(() => r.register(method('lora2', 'lora_'), 'p2')).toThrow(
      'Method "lora2" (plugin p2) uses parameter prefix "lora_", which clashes with "lora_" of method "lora" (plugin p1). Prefixes must be unique and not prefixes of each other.',
    );
    expect(() => r.register(method('lo', 'lo'), 'p3')).toThrow(/clashes with "lora_"/);
    expect(r.ids()).toEqual(['lora']);
  });

  it('rejects malformed definitions with the field to fix', () => {
    const r = new MethodRegistry();
    expect(() => r.register(method('Bad Id', 'x_'), 'p')).toThrow('Invalid method "Bad Id" from plugin p: id must be lower-case letters, digits and \'-\', starting with a letter');
    expect(() => r.register(method('ok', 'x_', { family: 'magic' as never }), 'p')).toThrow(
      'Invalid method "ok" from plugin p: family "magic" is not one of reparameterization, adapter, prompt, selective, baseline',
    );
    expect(() => r.register(method('ok', 'x_', { inject: undefined as never }), 'p')).toThrow('inject must be a function');
    expect(() => r.register(method('ok', '1x'), 'p')).toThrow('prefix, when given, must be an identifier');
    expect(() => r.register(method('ok', 'x_', { requires: 'inputEmbeddings' as never }), 'p')).toThrow('requires must list model extension point names');
    // A method that adds no parameters has no prefix at all (no fake "full_").
    r.register(method('no-prefix', undefined as never), 'p');
    expect(r.get('no-prefix')?.prefix).toBeUndefined();
  });
});

describe('StageRegistry', () => {
  it('orders stages numerically and rejects a stage without a number', () => {
    const r = new StageRegistry();
    const run = (d: any) => d;
    r.register({ name: 'split', stage: 500, run }, 'a');
    r.register({ name: 'clean', stage: -1000, run }, 'b');
    r.register({ name: 'between', stage: -999, run }, 'c');
    expect(r.ordered().map((s) => s.name)).toEqual(['clean', 'between', 'split']);
    expect(() => r.register({ name: 'x', stage: NaN, run }, 'd')).toThrow(/needs a numeric stage, e.g. STAGE.CLEAN \(-1000\)/);
    expect(() => r.register({ name: 'clean', stage: 1, run }, 'e')).toThrow('Duplicate dataset stage "clean": registered by b and again by e');
  });
});
