import { closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FILE_VERSION, encodeEvent, tfRecord, type TBEvent } from './event';

/** A fresh `events.out.tfevents.<seconds>.<host>` name in `dir` (a suffix when one exists already). */
export function eventFileName(dir: string, now = Date.now()): string {
  const base = `events.out.tfevents.${Math.floor(now / 1000)}.${hostname()}`;
  let name = base;
  for (let n = 1; existsSync(join(dir, name)); n++) name = `${base}.${process.pid}.${n}`;
  return name;
}

/**
 * Appends events to one event file, as TensorBoard's own writers do: the file_version event
 * first, then one TFRecord per event. Events given before `open` are kept and written once
 * the folder is known. Each record is appended whole, so a reader (TensorBoard polling the
 * file during training) only ever sees complete records or a partial last one it skips.
 */
export class EventFileWriter {
  private fd: number | undefined;
  private pending: Buffer[] = [];
  file: string | undefined;

  constructor(private readonly clock: () => number = Date.now) {
    this.pending.push(tfRecord(encodeEvent({ wallTime: clock() / 1000, step: 0, fileVersion: FILE_VERSION })));
  }

  /** Creates `dir` and the event file in it; writes what was kept so far. */
  open(dir: string): string {
    if (this.file) return this.file;
    mkdirSync(dir, { recursive: true });
    const file = join(dir, eventFileName(dir, this.clock()));
    this.fd = openSync(file, 'a');
    this.file = file;
    for (const record of this.pending) writeSync(this.fd, record);
    this.pending = [];
    return file;
  }

  scalars(step: number, values: Readonly<Record<string, number>>): void {
    const finite = Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)));
    if (Object.keys(finite).length) this.write({ wallTime: this.clock() / 1000, step, scalars: finite });
  }

  write(event: TBEvent): void {
    const record = tfRecord(encodeEvent(event));
    if (this.file === undefined) this.pending.push(record);
    else {
      this.fd ??= openSync(this.file, 'a');
      writeSync(this.fd, record);
    }
  }

  /** Closes the file; a later event reopens it for appending. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
