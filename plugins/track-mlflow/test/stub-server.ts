/**
 * A stand-in MLflow tracking server on 127.0.0.1 (a free port): it records every request
 * and answers with the recorded responses of fixtures/mlflow-rest-pairs.json, keyed by
 * endpoint. `fail` makes chosen endpoints answer an error instead.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pairs from './fixtures/mlflow-rest-pairs.json';

export { pairs };

export interface Recorded {
  method: string;
  path: string;
  endpoint: string;
  body?: any;
}

type Reply = { status: number; body: unknown };

export interface Stub {
  uri: string;
  requests: Recorded[];
  /** Endpoint (e.g. "runs/log-batch", or "*") → the reply to give instead of the recorded success. */
  fail: Map<string, Reply>;
  /** Whether experiments/get-by-name finds the experiment. */
  experimentExists: boolean;
  close(): Promise<void>;
}

function replyFor(stub: Stub, endpoint: string): Reply {
  const failure = stub.fail.get(endpoint) ?? stub.fail.get('*');
  if (failure) return failure;
  switch (endpoint) {
    case 'experiments/get-by-name':
      return (stub.experimentExists ? pairs.getExperimentFound : pairs.getExperimentMissing).response;
    case 'experiments/create':
      stub.experimentExists = true;
      return pairs.createExperiment.response;
    case 'runs/create':
      return pairs.createRun.response;
    case 'runs/log-batch':
      return pairs.logBatch.response;
    case 'runs/update':
      return pairs.updateRun.response;
    default:
      return { status: 404, body: { error_code: 'ENDPOINT_NOT_FOUND', message: `No such endpoint ${endpoint}` } };
  }
}

export async function startStub(): Promise<Stub> {
  let server: Server;
  const stub: Stub = {
    uri: '',
    requests: [],
    fail: new Map(),
    experimentExists: false,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      const path = req.url ?? '';
      const endpoint = path.replace(/^\/api\/2\.0\/mlflow\//, '').replace(/\?.*$/, '');
      stub.requests.push({ method: req.method ?? '', path, endpoint, ...(text ? { body: JSON.parse(text) } : {}) });
      const reply = replyFor(stub, endpoint);
      res.writeHead(reply.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return stub;
}
