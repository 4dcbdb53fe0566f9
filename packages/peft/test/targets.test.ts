import Ajv from 'ajv';
import { findModules, leafNames, matchesSpec, modulePaths, noTargetMatchError, targetSpecProblems, targetSpecSchema } from '@leantune/peft';
import { Linear, Module, tf } from '@leantune/tensor';

/** A container with named children and no computation: the matcher only reads names. */
class Box extends Module {
  constructor(children: Record<string, Module>) {
    super();
    for (const [name, child] of Object.entries(children)) this.addModule(name, child);
  }
  forward(): never {
    throw new Error('Box has no forward');
  }
}

/** Stands for an injected wrapper whose insides the walk must not enter. */
class Wrapped extends Box {}

/** encoder.layer.{0,1}.{attention.{query,value},output.dense}, classifier */
function bertLike(): Box {
  const layer = () => new Box({ attention: new Box({ query: new Linear(2, 2), value: new Linear(2, 2) }), output: new Box({ dense: new Linear(2, 2) }) });
  return new Box({ encoder: new Box({ layer: new Box({ 0: layer(), 1: layer() }) }), classifier: new Linear(2, 2) });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('matchesSpec', () => {
  it('matches a list entry exactly or as a whole dotted suffix, never inside a segment', () => {
    expect(matchesSpec(['dense'], 'dense')).toBe(true);
    expect(matchesSpec(['dense'], 'encoder.layer.0.output.dense')).toBe(true);
    expect(matchesSpec(['output.dense'], 'encoder.layer.0.output.dense')).toBe(true);
    expect(matchesSpec(['dense'], 'encoder.layer.0.output.xdense')).toBe(false);
    expect(matchesSpec(['output'], 'encoder.layer.0.output.dense')).toBe(false);
    expect(matchesSpec([], 'dense')).toBe(false);
  });

  it('treats a string as a regex that must match the whole path', () => {
    expect(matchesSpec('.*\\.(query|value)', 'encoder.layer.1.attention.value')).toBe(true);
    expect(matchesSpec('query', 'encoder.layer.1.attention.query')).toBe(false);
    expect(matchesSpec('encoder', 'encoder.layer')).toBe(false);
    expect(matchesSpec('a|b', 'b')).toBe(true);
  });
});

describe('modulePaths', () => {
  it('lists every module depth first without the root, and skips the insides of opaque modules', () => {
    const model = new Box({ a: new Box({ x: new Linear(2, 2) }), w: new Wrapped({ inner: new Linear(2, 2) }) });
    expect(modulePaths(model).map(([p]) => p)).toEqual(['a', 'a.x', 'w', 'w.inner']);
    expect(modulePaths(model, (m) => m instanceof Wrapped).map(([p]) => p)).toEqual(['a', 'a.x', 'w']);
    // The root is walked even when it is itself opaque: only its path is left out.
    expect(modulePaths(new Wrapped({ inner: new Linear(2, 2) }), (m) => m instanceof Wrapped).map(([p]) => p)).toEqual(['inner']);
    model.dispose();
  });

  it('gives each leaf name once', () => {
    expect(leafNames(['a.dense', 'b.dense', 'query', 'c.query.bias'])).toEqual(['dense', 'query', 'bias']);
  });
});

describe('findModules', () => {
  it('returns the matching modules in tree order, minus the excluded ones', () => {
    const model = bertLike();
    const hits = findModules(model, { targets: ['query', 'value'], exclude: ['layer.1.attention.value'], what: 'Test target_modules' });
    expect(hits.map(([p]) => p)).toEqual(['encoder.layer.0.attention.query', 'encoder.layer.0.attention.value', 'encoder.layer.1.attention.query']);
    expect(hits[0][1]).toBe(model.getSubmodule('encoder.layer.0.attention.query'));
    expect(findModules(model, { targets: '.*\\.0\\.output\\.dense', what: 't' }).map(([p]) => p)).toEqual(['encoder.layer.0.output.dense']);
    model.dispose();
  });

  it('does not look inside opaque modules', () => {
    const model = new Box({ w: new Wrapped({ dense: new Linear(2, 2) }), dense: new Linear(2, 2) });
    expect(findModules(model, { targets: ['dense'], opaque: (m) => m instanceof Wrapped, what: 't' }).map(([p]) => p)).toEqual(['dense']);
    model.dispose();
  });

  it('fails on no match, naming the targets, the close names and the names the model has', () => {
    const model = bertLike();
    expect(() => findModules(model, { targets: ['quary'], what: 'Adapter target_modules' })).toThrow(
      'Adapter target_modules ["quary"] matched no module of the model. Close module names: "query". Module names in this model: encoder, layer, 0, attention, query, value, output, dense, 1, classifier.',
    );
    // A far-off name gets no hint; targets that are all excluded count as no match.
    expect(() => findModules(model, { targets: 'zzzzzzzz', what: 'X' })).toThrow(/^X "zzzzzzzz" matched no module of the model\. Module names in this model: /);
    expect(() => findModules(model, { targets: ['classifier'], exclude: '.*classifier', what: 'X' })).toThrow(/^X \["classifier"\] matched no module of the model\. Close module names: "classifier"\./);
    model.dispose();
  });

  it('cuts the list of module names after 15', () => {
    const children: Record<string, Module> = {};
    for (let i = 0; i < 20; i++) children[`m${String.fromCharCode(97 + i)}`] = new Box({});
    expect(() => findModules(new Box(children), { targets: ['nothing_like_it'], what: 'T' })).toThrow(
      'T ["nothing_like_it"] matched no module of the model. Module names in this model: ma, mb, mc, md, me, mf, mg, mh, mi, mj, mk, ml, mm, mn, mo, ….',
    );
  });
});

describe('noTargetMatchError', () => {
  it('ends with what the caller says the model has', () => {
    const err = noTargetMatchError('LoRA target_modules', ['c_atn'], ['h.0.attn.c_attn', 'h.0.attn.c_proj'], 'Linear layers in this model: c_attn, c_proj.');
    expect(err.message).toBe('LoRA target_modules ["c_atn"] matched no module of the model. Close module names: "c_attn". Linear layers in this model: c_attn, c_proj.');
  });
});

describe('targetSpecSchema', () => {
  it('accepts a list of names, a regex string or null, and nothing empty', () => {
    const schema = targetSpecSchema('Modules to wrap');
    expect(schema.description).toBe('Modules to wrap');
    const valid = new Ajv().compile(schema);
    expect([['q', 'v'], '.*\\.q', null, []].map((v) => valid(v))).toEqual([true, true, true, true]);
    expect([[''], '', 3, ['q', 1], { q: true }].map((v) => valid(v))).toEqual([false, false, false, false, false]);
  });
});

describe('targetSpecProblems', () => {
  it('names each string field that is not a valid regex, in field order, and skips lists and null', () => {
    const cfg = { target_modules: '(q|v', exclude_modules: ['(not checked'], feedforward_modules: null, other: '[' };
    const problems = targetSpecProblems(cfg, ['target_modules', 'exclude_modules', 'feedforward_modules', 'other']);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^target_modules "\(q\|v" is not a valid regular expression \(.*Unterminated group\)$/);
    expect(problems[1]).toMatch(/^other "\[" is not a valid regular expression \(.*Unterminated character class\)$/);
    expect(targetSpecProblems({ target_modules: '.*\\.q' }, ['target_modules'])).toEqual([]);
  });
});
