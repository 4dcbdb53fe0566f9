import { resolve } from 'node:path';
import { ConfigError } from '@leantune/core';
import type { CliIO } from '../main';
import { BIN } from './compare';

export interface WorkerFlags {
  queue: string;
  concurrency?: string;
  artifacts?: string;
  inlineLimit?: string;
  only?: string;
}

const MB = 2 ** 20;

/**
 * `leantune worker`: runs compare runs that coordinators put on BullMQ queues in Redis, each
 * as `leantune train --json` in its own process, from the current folder (the project: its
 * plugins, data and output.dir resolve from here). Ctrl-C or SIGTERM stops it: BullMQ hands
 * its unfinished runs to other workers.
 */
export async function runWorkerCommand(flags: WorkerFlags, io: CliIO): Promise<void> {
  const { runWorker, redisConnection, QueueConfigError, DEFAULT_INLINE_LIMIT } = await import('@leantune/queue');
  const number = (flag: string, text: string | undefined, min: number) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new ConfigError(`${flag} takes a number of ${min} or more, got "${text}".`);
    return n;
  };
  try {
    redisConnection(flags.queue);
  } catch (err) {
    if (err instanceof QueueConfigError) throw new ConfigError(err.message);
    throw err;
  }
  const concurrency = number('--concurrency', flags.concurrency, 1);
  if (concurrency !== undefined && !Number.isInteger(concurrency)) throw new ConfigError(`--concurrency takes a whole number, got "${flags.concurrency}".`);
  const inlineMB = number('--inline-limit', flags.inlineLimit, 0);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  // For tests: a short lock makes a killed worker's run go to another within seconds.
  const lockMs = Number(process.env.LEANTUNE_QUEUE_LOCK_MS) || undefined;
  try {
    await runWorker({
      url: flags.queue,
      concurrency,
      dir: io.cwd,
      artifactsDir: flags.artifacts === undefined ? undefined : resolve(io.cwd, flags.artifacts),
      inlineLimit: inlineMB === undefined ? DEFAULT_INLINE_LIMIT : inlineMB * MB,
      queue: flags.only,
      lockDurationMs: lockMs,
      stalledIntervalMs: lockMs && Math.max(500, Math.round(lockMs / 2)),
      refuseDelayMs: Number(process.env.LEANTUNE_QUEUE_REFUSE_DELAY_MS) || undefined,
      trainCommand: (configFile, override, dir) => ({ command: process.execPath, args: [BIN, 'train', '-c', configFile, '--json', '--override', JSON.stringify(override)], cwd: dir }),
      log: (line) => io.err(`${line}\n`),
      signal: stop.signal,
    });
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
