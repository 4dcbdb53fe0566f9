import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** Debian's redis-server, where .ci/run installs it. */
export const redisServerBin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(existsSync);

/** Whether a test that needs redis-server must fail (CI, LEANTUNE_REQUIRE_REDIS=1) rather than skip without it. */
export const redisRequired = process.env.CI === 'true' || process.env.LEANTUNE_REQUIRE_REDIS === '1';

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

const listening = (port: number) =>
  new Promise<boolean>((done) => {
    const c = connect(port, '127.0.0.1', () => {
      c.end();
      done(true);
    });
    c.on('error', () => done(false));
  });

export interface RedisServer {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** redis-server on a free localhost port, nothing saved (--save '' --appendonly no); resolves once it accepts connections. */
export async function startRedisServer(): Promise<RedisServer> {
  if (!redisServerBin) throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run installs it)');
  const port = await freePort();
  const child = spawn(redisServerBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((done) => child.on('exit', () => done()));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
