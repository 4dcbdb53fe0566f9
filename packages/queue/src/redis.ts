import { readFileSync } from 'node:fs';

/** What BullMQ's Queue, QueueEvents and Worker are given to reach Redis (ioredis options). */
export interface RedisConnection {
  url: string;
  maxRetriesPerRequest: null;
  enableOfflineQueue: boolean;
  retryStrategy: (times: number) => number;
  password?: string;
  username?: string;
  tls?: Record<string, unknown>;
  connectionName?: string;
  [key: string]: unknown;
}

/** A mistake in the queue's address or TLS files: the message says how to fix it. */
export class QueueConfigError extends Error {
  override name = 'QueueConfigError';
}

/** The URL with its password replaced by ***, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  }
}

/**
 * ioredis options from `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS), for
 * coordinator and workers alike: commands wait through a Redis outage (no per-request retry
 * limit, the offline queue on) while ioredis reconnects every 0.2–2 s.
 * The password may come from LEANTUNE_REDIS_PASSWORD instead of the URL (kept out of `ps`);
 * TLS files from LEANTUNE_REDIS_TLS_CA, LEANTUNE_REDIS_TLS_CERT and LEANTUNE_REDIS_TLS_KEY,
 * LEANTUNE_REDIS_TLS_SERVERNAME, and LEANTUNE_REDIS_TLS_INSECURE=1 to skip the certificate check.
 */
export function redisConnection(url: string, env: NodeJS.ProcessEnv = process.env, name?: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueConfigError(`--queue takes a Redis URL such as redis://localhost:6379 or rediss://:password@host:6380, got "${redactUrl(url)}".`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new QueueConfigError(`--queue takes a redis:// or rediss:// URL, got ${u.protocol}// (${redactUrl(url)}).`);
  }
  const conn: RedisConnection = {
    url,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(200 * times, 2000),
    ...(name ? { connectionName: name } : {}),
  };
  if (!u.password && env.LEANTUNE_REDIS_PASSWORD) conn.password = env.LEANTUNE_REDIS_PASSWORD;
  const file = (key: string) => {
    const path = env[key];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new QueueConfigError(`${key}=${path}: ${(err as Error).message}`);
    }
  };
  const tls: Record<string, unknown> = {};
  const ca = file('LEANTUNE_REDIS_TLS_CA');
  const cert = file('LEANTUNE_REDIS_TLS_CERT');
  const key = file('LEANTUNE_REDIS_TLS_KEY');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (env.LEANTUNE_REDIS_TLS_SERVERNAME) tls.servername = env.LEANTUNE_REDIS_TLS_SERVERNAME;
  if (env.LEANTUNE_REDIS_TLS_INSECURE === '1') tls.rejectUnauthorized = false;
  if (u.protocol === 'rediss:' || Object.keys(tls).length) conn.tls = tls;
  return conn;
}

/** BullMQ's prefix for leantune's queues, and the set where coordinators list the queues that have work. */
export const QUEUE_PREFIX = 'leantune';
export const REGISTRY_KEY = `${QUEUE_PREFIX}:queues`;

/** A queue's name from an experiment's: BullMQ keys join with ':', so none in the name. */
export const queueNameFor = (experiment: string) => experiment.replace(/[^A-Za-z0-9._-]/g, '_');

/** The job id of a run: its id in the experiment store, so adding it twice adds it once. */
export const jobIdFor = (runId: number) => `run-${runId}`;

/** A plain ioredis client on the same connection options (the queue registry's). */
export async function plainClient(conn: RedisConnection): Promise<import('ioredis').Redis> {
  const { Redis } = await import('ioredis');
  const { url, ...rest } = conn;
  const client = new Redis(url, rest as import('ioredis').RedisOptions);
  client.on('error', () => undefined);
  return client;
}
