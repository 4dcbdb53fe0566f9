// Default import on purpose: calls go through the live `fs` object, so tests can observe reads.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { tensorFromBytes, tensorToBytes } from './dtypes';
import { headerLengthFrom, parseHeaderBytes, SafetensorsHeader, SafetensorsTensorInfo } from './header';
import { LoadedSafetensors, planSafetensors, SaveSafetensorsOptions, TensorDict } from './codec';

/** Fills `target` from `position`; a short read means the file shrank under us. */
function readExactly(fd: number, target: Uint8Array, position: number, source: string): number {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) throw new Error(`${source}: unexpected end of file at byte ${position + done}; the file is truncated`);
    done += n;
  }
  return done;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

function readHeaderFromFd(fd: number, source: string): SafetensorsHeader {
  const fileSize = fs.fstatSync(fd).size;
  const prefix = new Uint8Array(8);
  if (fileSize >= 8) readExactly(fd, prefix, 0, source);
  const headerLength = headerLengthFrom(prefix, fileSize, source);
  const headerBytes = new Uint8Array(headerLength);
  readExactly(fd, headerBytes, 8, source);
  const dataStart = 8 + headerLength;
  return { ...parseHeaderBytes(headerBytes, fileSize - dataStart, source), dataStart, fileSize };
}

/** Parses and validates only the header of a safetensors file; no tensor data is read. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = fs.openSync(file, 'r');
  try {
    return readHeaderFromFd(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A safetensors file opened lazily: the header is parsed on open, and each `get` reads only
 * that tensor's bytes, so a single adapter can be pulled out of a multi-GB checkpoint.
 */
export class SafetensorsFile {
  /** Tensor data bytes read so far (header excluded). */
  bytesRead = 0;
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly header: SafetensorsHeader,
  ) {
    this.fd = fd;
  }

  static open(file: string): SafetensorsFile {
    const fd = fs.openSync(file, 'r');
    try {
      return new SafetensorsFile(file, fd, readHeaderFromFd(fd, file));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  keys(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): SafetensorsTensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) {
      const known = this.keys();
      const shown = known.slice(0, 10).join(', ') + (known.length > 10 ? `, ... (${known.length} in all)` : '');
      throw new Error(`${this.path}: no tensor named "${name}"; the file holds: ${shown || '(none)'}`);
    }
    return info;
  }

  get(name: string): tf.Tensor {
    const info = this.info(name);
    if (this.fd === undefined) throw new Error(`${this.path}: file is closed; open it again to read "${name}"`);
    const bytes = new Uint8Array(info.end - info.begin);
    this.bytesRead += readExactly(this.fd, bytes, this.header.dataStart + info.begin, this.path);
    return tensorFromBytes(bytes, info.dtype, info.shape, () => `${this.path}: tensor "${name}"`);
  }

  /** Reads every tensor (or those `filter` accepts); on failure none is leaked. */
  getAll(filter?: (name: string) => boolean): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    try {
      for (const name of this.keys()) if (!filter || filter(name)) out.set(name, this.get(name));
    } catch (err) {
      out.forEach((t) => t.dispose());
      throw err;
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export function loadSafetensors(file: string): LoadedSafetensors {
  const st = SafetensorsFile.open(file);
  try {
    return { tensors: st.getAll(), metadata: st.metadata };
  } finally {
    st.close();
  }
}

let tempCounter = 0;

/**
 * Writes a safetensors file atomically: into a temp file in the same folder, then renamed
 * over `file`, so readers never see a half-written checkpoint. Tensors are encoded one at a
 * time, never the whole file in memory.
 */
export function saveSafetensors(
  file: string,
  tensors: TensorDict,
  metadata?: Record<string, string>,
  options?: SaveSafetensorsOptions,
): void {
  const plan = planSafetensors(tensors, metadata, options);
  const dir = path.dirname(file);
  // pid + counter: two saves of one path (even from two processes) never share a temp file.
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${++tempCounter}.tmp`);
  const fd = fs.openSync(temp, 'wx');
  try {
    try {
      writeAll(fd, plan.header);
      for (const { tensor, info } of plan.entries) writeAll(fd, tensorToBytes(tensor, info.dtype));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
