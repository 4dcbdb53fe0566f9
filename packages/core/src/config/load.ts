import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { ConfigError, errorMessage } from '../errors';

/** A loaded config file: its data plus a way to find where a JSON pointer sits in it. */
export interface ConfigSource {
  file: string;
  data: unknown;
  /** Line and column (1-based) of the value at a JSON pointer, for JSON files. */
  locate(pointer: string, at?: 'key' | 'value'): { line: number; column: number } | undefined;
}

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

export function pointerSegments(pointer: string): Array<string | number> {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Parses JSON strictly (no comments, no trailing commas), reporting line and column. */
export function parseJsonConfig(text: string, file: string): ConfigSource {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  if (errors.length || !tree) {
    const first = errors[0];
    const { line, column } = lineColumn(text, first?.offset ?? 0);
    const what = first ? printParseErrorCode(first.error) : 'EmptyFile';
    throw new ConfigError(`${file}:${line}:${column}: JSON syntax error (${what}). Fix the JSON at that position.`);
  }
  const locate = (pointer: string, at: 'key' | 'value' = 'value') => {
    const node: Node | undefined = findNodeAtLocation(tree, pointerSegments(pointer));
    if (!node) return undefined;
    // A property's key sits in the parent 'property' node's first child.
    const target = at === 'key' && node.parent?.type === 'property' ? node.parent.children![0] : node;
    return lineColumn(text, target.offset);
  };
  return { file, data: getNodeValue(tree), locate };
}

/** Loads a JS module, CommonJS or ESM, re-reading it if it was loaded before. */
async function importFresh(file: string): Promise<unknown> {
  if (!file.endsWith('.mjs')) {
    try {
      delete require.cache[file];
      const mod = require(file);
      return mod?.__esModule || (mod && 'default' in mod && Object.keys(mod).length === 1) ? mod.default : mod;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    }
  }
  const mod = await import(`${pathToFileURL(file).href}?t=${Date.now()}`);
  return mod.default ?? mod;
}

/** Reads a config: JSON, or a .js/.cjs/.mjs module exporting the object (or a function returning it). */
export async function loadConfigFile(path: string): Promise<ConfigSource> {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new ConfigError(`Config file not found: ${file}. Pass an existing file with -c <config.json>.`);
  }
  const ext = extname(file);
  if (ext === '.json') return parseJsonConfig(readFileSync(file, 'utf8'), file);
  if (!['.js', '.cjs', '.mjs'].includes(ext)) {
    throw new ConfigError(`Config file ${file} has extension "${ext}"; use .json, .js, .cjs or .mjs.`);
  }
  let exported: unknown;
  try {
    exported = await importFresh(file);
    if (typeof exported === 'function') exported = await (exported as () => unknown)();
  } catch (err) {
    throw new ConfigError(`Config file ${file} failed to load: ${errorMessage(err)}`, { cause: err });
  }
  return { file, data: exported, locate: () => undefined };
}
