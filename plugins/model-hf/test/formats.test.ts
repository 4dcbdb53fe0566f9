/**
 * Other weight formats (pytorch_model.bin, model.bin, tf_model.h5, flax_model.msgpack, .gguf):
 * a clear error with the transformers conversion, and the file is never opened (no unpickling).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { recordingLogger, tempDir } from './helpers';

/** A pickle that would run a shell command if anything unpickled it. */
const HOSTILE_PICKLE = Buffer.from("cos\nsystem\n(S'touch /tmp/leantune-unpickled'\ntR.", 'latin1');

/** Loads `target` while recording every file opened or read under `dir`. */
async function loadWatching(target: string, dir: string): Promise<{ error: Error; touched: string[] }> {
  const touched: string[] = [];
  const note = (p: unknown) => {
    const s = String(p);
    if (s.startsWith(dir) && !s.endsWith('config.json')) touched.push(s);
  };
  const realOpen = fs.openSync;
  const realRead = fs.readFileSync;
  const realStream = fs.createReadStream;
  const open = jest.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, ...rest: unknown[]) => (note(p), (realOpen as (...a: unknown[]) => number)(p, ...rest))) as typeof fs.openSync);
  const read = jest.spyOn(fs, 'readFileSync').mockImplementation(((p: fs.PathOrFileDescriptor, ...rest: unknown[]) => (note(p), (realRead as (...a: unknown[]) => unknown)(p, ...rest))) as typeof fs.readFileSync);
  const stream = jest.spyOn(fs, 'createReadStream').mockImplementation(((p: fs.PathLike, ...rest: unknown[]) => (note(p), (realStream as (...a: unknown[]) => fs.ReadStream)(p, ...rest))) as typeof fs.createReadStream);
  try {
    await loadHfCheckpoint(target, { log: recordingLogger() });
    throw new Error('it loaded');
  } catch (error) {
    return { error: error as Error, touched };
  } finally {
    open.mockRestore();
    read.mockRestore();
    stream.mockRestore();
  }
}

/** A BERT folder whose model.safetensors is replaced by `files`. */
function folder(label: string, files: string[], withConfig = true): string {
  const dir = tempDir(label);
  writeTinyHfCheckpoint('bert', dir);
  fs.rmSync(path.join(dir, 'model.safetensors'));
  if (!withConfig) fs.rmSync(path.join(dir, 'config.json'));
  for (const f of files) fs.writeFileSync(path.join(dir, f), HOSTILE_PICKLE);
  return dir;
}

test.each([
  ['pytorch_model.bin', 'PyTorch pickle weights', ''],
  ['model.bin', 'PyTorch pickle weights', ''],
  ['tf_model.h5', 'TensorFlow (Keras h5) weights', ', from_tf=True'],
  ['flax_model.msgpack', 'Flax weights', ', from_flax=True'],
])('%s: the error names the file and the conversion with the checkpoint\'s own class; the file is never opened', async (file, what, from) => {
  const dir = folder(file.replace('.', '-'), [file]);
  const { error, touched } = await loadWatching(dir, dir);
  expect(error.message).toContain(`${path.join(dir, file)}: ${what} (${file}) cannot be loaded; leantune reads safetensors only`);
  expect(error.message).toContain('never unpickles');
  expect(error.message).toContain(
    `python -c "from transformers import BertForSequenceClassification; BertForSequenceClassification.from_pretrained('${dir}'${from}).save_pretrained('${dir}-safetensors', safe_serialization=True)"`,
  );
  expect(touched).toEqual([]);
  expect(fs.existsSync('/tmp/leantune-unpickled')).toBe(false);
});

test('sharded pytorch_model-0000i-of-0000n.bin with its index: named, never opened', async () => {
  const dir = folder('pt-sharded', ['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin', 'pytorch_model.bin.index.json']);
  const { error, touched } = await loadWatching(dir, dir);
  expect(error.message).toContain('PyTorch pickle weights (pytorch_model-00001-of-00002.bin, pytorch_model-00002-of-00002.bin, pytorch_model.bin.index.json)');
  expect(touched).toEqual([]);
});

test('a .gguf folder without config.json, and a .gguf file given directly: the GGUF conversion (gguf_file=, AutoModel), never opened', async () => {
  const dir = folder('gguf', ['SmolLM2-135M.Q8_0.gguf'], false);
  const a = await loadWatching(dir, dir);
  expect(a.error.message).toContain('GGUF (llama.cpp) weights (SmolLM2-135M.Q8_0.gguf) cannot be loaded');
  expect(a.error.message).toContain(`from transformers import AutoModel; AutoModel.from_pretrained('${dir}', gguf_file='SmolLM2-135M.Q8_0.gguf').save_pretrained('${dir}-safetensors', safe_serialization=True)`);
  expect(a.touched).toEqual([]);
  const b = await loadWatching(path.join(dir, 'SmolLM2-135M.Q8_0.gguf'), dir);
  expect(b.error.message).toContain('GGUF (llama.cpp) weights (SmolLM2-135M.Q8_0.gguf) cannot be loaded');
  expect(b.touched).toEqual([]);
});

test('model.safetensors beside pytorch_model.bin: the safetensors load, the pickle is never opened', async () => {
  const dir = tempDir('both');
  writeTinyHfCheckpoint('bert', dir);
  fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), HOSTILE_PICKLE);
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(m.arch).toBe('bert');
});
