import { registerNativeTfjsBackend, type NativeAddon } from '@leantune/native';
import { initBackend, tf } from '@leantune/tensor';

/** The addon with every call counted, to tell a native computation from a fallback. */
export function countingAddon(addon: NativeAddon): { addon: NativeAddon; calls: () => number; callsOf: (name: string) => number } {
  let calls = 0;
  const byName = new Map<string, number>();
  const wrapped: Record<string, unknown> = {};
  // N-API properties are own but not enumerable: list them by name.
  for (const name of Object.getOwnPropertyNames(addon)) {
    const fn = (addon as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') continue;
    const counted = ['matmul', 'binary', 'unary', 'reduce', 'stridedCopy', 'gather', 'segmentSum', 'softmax'].includes(name);
    wrapped[name] = (...args: unknown[]) => {
      if (counted) calls++;
      byName.set(name, (byName.get(name) ?? 0) + 1);
      return (fn as (...a: unknown[]) => unknown).apply(addon, args);
    };
  }
  return { addon: wrapped as unknown as NativeAddon, calls: () => calls, callsOf: (name) => byName.get(name) ?? 0 };
}

/** Makes 'native' the active backend, computing with `addon` (registered afresh, so a counting addon takes effect). */
export async function useNativeBackend(addon: NativeAddon): Promise<void> {
  if (tf.findBackendFactory('native') != null) tf.removeBackend('native');
  registerNativeTfjsBackend({ addon });
  await initBackend({ backend: 'native', threads: 2 });
}
