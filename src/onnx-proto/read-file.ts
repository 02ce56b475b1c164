/**
 * A model's signature read from an ONNX file without reading its weights. The server reads every model's signature
 * on the main thread when it loads it (to complete and check its config); reading the whole file for that held a
 * copy of the weights in a Buffer until V8 next collected, which on an idle server is long after the model was
 * unloaded (bench/unload-rss.ts: a 200 MB model left a 191.5 MiB mapping behind). Here only the fields the signature
 * needs are read; initializers' data and the nodes are skipped over by their lengths, so a model of any size costs
 * a few small reads.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { readFields, utf8 } from './protobuf.js';
import { type OnnxModelInfo, type OnnxValueInfo, readValueInfo } from './reader.js';

/** Forward-only reads of a file through a small window; skips move the position without reading. */
export class FileCursor {
  private window = Buffer.alloc(64 * 1024);
  private start = 0;
  private length = 0;
  pos = 0;

  constructor(private readonly file: FileHandle, readonly size: number) {}

  /** Makes bytes [pos, pos + n) available in the window. */
  private async need(n: number): Promise<number> {
    if (this.pos + n > this.size) throw new Error('truncated ONNX file');
    if (this.pos < this.start || this.pos + n > this.start + this.length) {
      if (n > this.window.length) this.window = Buffer.alloc(n);
      const { bytesRead } = await this.file.read(this.window, 0, this.window.length, this.pos);
      this.start = this.pos;
      this.length = bytesRead;
      if (bytesRead < n) throw new Error('truncated ONNX file');
    }
    return this.pos - this.start;
  }

  async varint(): Promise<bigint> {
    const at = await this.need(Math.min(10, this.size - this.pos));
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (at + i >= this.length) break;
      const b = this.window[at + i];
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        this.pos += i + 1;
        return result;
      }
    }
    throw new Error('bad varint in ONNX file');
  }

  /** A copy of the next n bytes. */
  async bytes(n: number): Promise<Uint8Array> {
    const at = await this.need(n);
    this.pos += n;
    return new Uint8Array(this.window.subarray(at, at + n));
  }
}

export interface FileField {
  readonly field: number;
  readonly wire: number;
  /** Wire 0: the varint. */
  readonly int: bigint;
  /** Wire 2: the payload's length; the cursor is at its start. */
  readonly length: number;
}

/**
 * The fields of the message in [cursor.pos, end). After each length-delimited field the cursor moves past its
 * payload whether or not the caller read it.
 */
export async function* fileFields(c: FileCursor, end: number): AsyncGenerator<FileField> {
  while (c.pos < end) {
    const key = Number(await c.varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new Error('field number 0 in ONNX file');
    if (wire === 0) {
      yield { field, wire, int: await c.varint(), length: 0 };
    } else if (wire === 1 || wire === 5) {
      c.pos += wire === 1 ? 8 : 4;
    } else if (wire === 2) {
      const length = Number(await c.varint());
      const payloadEnd = c.pos + length;
      if (payloadEnd > end) throw new Error('truncated length-delimited field in ONNX file');
      yield { field, wire, int: 0n, length };
      c.pos = payloadEnd;
    } else {
      throw new Error(`unsupported wire type ${wire} in ONNX file`);
    }
  }
  if (c.pos !== end) throw new Error('truncated ONNX file');
}

/** readOnnxModelInfo's answer for the file at `path`, reading only what the signature needs. */
export async function readOnnxModelInfoFromFile(path: string): Promise<OnnxModelInfo> {
  const file = await open(path, 'r');
  try {
    const c = new FileCursor(file, (await file.stat()).size);
    let irVersion = 0;
    let producer = '';
    let graph = false;
    const opsets: { domain: string; version: number }[] = [];
    const inputs: OnnxValueInfo[] = [];
    const outputs: OnnxValueInfo[] = [];
    const initializers = new Set<string>();
    for await (const f of fileFields(c, c.size)) {
      if (f.field === 1 && f.wire === 0) irVersion = Number(f.int);
      else if (f.field === 2 && f.wire === 2) producer = utf8(await c.bytes(f.length));
      else if (f.field === 8 && f.wire === 2) {
        let domain = '';
        let version = 0;
        for (const g of readFields(await c.bytes(f.length))) {
          if (g.field === 1 && g.wire === 2) domain = utf8(g.bytes);
          else if (g.field === 2 && g.wire === 0) version = Number(g.int);
        }
        opsets.push({ domain, version });
      } else if (f.field === 7 && f.wire === 2) {
        graph = true;
        for await (const g of fileFields(c, c.pos + f.length)) {
          if (g.wire !== 2) continue;
          if (g.field === 11) inputs.push(readValueInfo(await c.bytes(g.length)));
          else if (g.field === 12) outputs.push(readValueInfo(await c.bytes(g.length)));
          else if (g.field === 5) {
            // An initializer: only its name (TensorProto field 8), never its data.
            for await (const t of fileFields(c, c.pos + g.length)) {
              if (t.field === 8 && t.wire === 2) initializers.add(utf8(await c.bytes(t.length)));
            }
          }
        }
      }
    }
    if (!graph || irVersion === 0) throw new Error('not an ONNX model (no graph or IR version)');
    return { irVersion, producer, opsets, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
  } finally {
    await file.close();
  }
}
