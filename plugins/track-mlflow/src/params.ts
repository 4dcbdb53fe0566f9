import { PARAM_VALUE_MAX, type KeyValue } from './client';

/**
 * A config as MLflow params: dotted keys for nested objects (`train.learningRate`),
 * arrays and other leaves as their JSON (strings as they are), long values cut to
 * MLflow's limit with a marker.
 */
export function flattenParams(value: unknown, prefix = '', out: KeyValue[] = []): KeyValue[] {
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) flattenParams(v, prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  if (value === undefined || !prefix) return out;
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  const cut = '… (truncated)';
  if (text.length > PARAM_VALUE_MAX) text = `${text.slice(0, PARAM_VALUE_MAX - cut.length)}${cut}`;
  out.push({ key: prefix.slice(0, 250), value: text });
  return out;
}
