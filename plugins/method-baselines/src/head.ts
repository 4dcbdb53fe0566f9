import { closeMatches } from '@leantune/core';
import type { Module } from '@leantune/tensor';

/** Module names transformers gives a task head (sequence classification, LM, ViT/ours). */
export const HEAD_NAMES = ['classifier', 'lm_head', 'score'] as const;

/**
 * The classification head's module path: the `head` option if given (it must exist), else
 * the shallowest module named classifier / lm_head / score. Fails naming what exists.
 */
export function findHead(model: Module, head?: string | null): string {
  const paths = [...model.namedModules()].map(([p]) => p).filter((p) => p !== '');
  if (head) {
    if (paths.includes(head)) return head;
    const close = closeMatches(head, paths, 3);
    throw new Error(`linear-probe head "${head}" is not a module of this model.${close.length ? ` Close names: ${close.map((c) => `"${c}"`).join(', ')}.` : ''} Set "head" to a module path such as ${JSON.stringify(paths.slice(-3))}.`);
  }
  const found = paths
    .filter((p) => (HEAD_NAMES as readonly string[]).includes(p.split('.').pop()!))
    .sort((a, b) => a.split('.').length - b.split('.').length);
  if (found.length) return found[0];
  const top = paths.filter((p) => !p.includes('.'));
  throw new Error(
    `linear-probe found no classification head: no module is named ${HEAD_NAMES.join(', ')}. Set methods["linear-probe"].head to the head's module path (top-level modules: ${top.join(', ') || 'none'}).`,
  );
}
