import * as fs from 'node:fs';
import * as os from 'node:os';

/** Environment variable that sets the native backend's tensor memory limit (bytes, or 512m, 6g, 1.5t). */
export const MEMORY_LIMIT_ENV = 'LEANTUNE_MEMORY_LIMIT';

/** Share of the process's memory tensors may take by default; the rest is the JS heap, the addon, the OS. */
export const DEFAULT_MEMORY_SHARE = 0.9;

const CGROUP_MEMORY_MAX = '/sys/fs/cgroup/memory.max';

export interface MemoryLimit {
  bytes: number;
  /** Where the figure came from, for error messages. */
  source: string;
}

const SUFFIXES: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "6g" → 6 GiB, "500000000" → bytes, "1.5 GB" → 1.5 GiB; throws naming `source` on anything else. */
export function parseMemorySize(text: string, source: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  const bytes = match == null ? Number.NaN : Number(match[1]) * SUFFIXES[match[2].toLowerCase()];
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw new Error(`${source}: '${text}' is not a memory size; give bytes or a number with k, m, g or t (e.g. 6g)`);
  }
  return Math.floor(bytes);
}

/** The cgroup v2 limit of this process's container, or null when unset ("max") or not readable. */
export function cgroupMemoryMax(file = CGROUP_MEMORY_MAX): number | null {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    const bytes = Number(text);
    return text === 'max' || !Number.isFinite(bytes) || bytes <= 0 ? null : bytes;
  } catch {
    return null;
  }
}

/**
 * The limit: the option, else LEANTUNE_MEMORY_LIMIT, else 90% of what the process may use
 * (the cgroup's memory.max when it is set and below the machine's memory, else os.totalmem()).
 */
export function resolveMemoryLimit(option: number | string | undefined, env: NodeJS.ProcessEnv = process.env, cgroupMax = cgroupMemoryMax()): MemoryLimit {
  if (option != null) {
    const bytes = typeof option === 'number' ? option : parseMemorySize(option, 'memoryLimit');
    if (!Number.isFinite(bytes) || bytes <= 0) throw new Error(`memoryLimit must be a positive number of bytes, got ${option}`);
    return { bytes, source: `memoryLimit option ${option}` };
  }
  const fromEnv = env[MEMORY_LIMIT_ENV]?.trim();
  if (fromEnv) return { bytes: parseMemorySize(fromEnv, MEMORY_LIMIT_ENV), source: `${MEMORY_LIMIT_ENV}=${fromEnv}` };
  const total = os.totalmem();
  const [available, what] = cgroupMax != null && cgroupMax < total ? [cgroupMax, `the cgroup's ${CGROUP_MEMORY_MAX}`] : [total, "the machine's memory"];
  return { bytes: Math.floor(DEFAULT_MEMORY_SHARE * available), source: `${DEFAULT_MEMORY_SHARE * 100}% of ${what} (set ${MEMORY_LIMIT_ENV} to change it)` };
}
