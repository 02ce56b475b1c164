/**
 * Reads an ONNX file's structure from disk without its tensor payloads: initializers come back with name, type,
 * dims and payloadBytes but no data, so a model of any size is inspected in little memory (nodes, value infos and
 * attributes, which are small, are read whole; weights stored as Constant node attributes are read with their node).
 * It walks the file with read-file.ts's cursor, which the server uses for signatures.
 */
import { open } from 'node:fs/promises';
import { ELEM_BYTES, elementCount, graphFromFields, modelFromFields, type OnnxModel, type OnnxTensor } from './model.js';
import { utf8, type ProtoField } from './protobuf.js';
import { FileCursor, fileFields, type FileField } from './read-file.js';

/** Tensor fields holding data: float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data. */
const DATA_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11]);
const EMPTY = new Uint8Array(0);

/** A field with its payload read (wire 2), as readFields gives it. */
async function withBytes(c: FileCursor, f: FileField): Promise<ProtoField> {
  return { field: f.field, wire: f.wire, int: f.int, bytes: f.wire === 2 ? await c.bytes(f.length) : EMPTY };
}

async function tensorHeader(c: FileCursor, length: number): Promise<OnnxTensor> {
  let name = '';
  let elemType = 0;
  const dims: number[] = [];
  let payload = 0;
  let external = false;
  for await (const t of fileFields(c, c.pos + length)) {
    if (DATA_FIELDS.has(t.field)) {
      payload += t.length;
      continue;
    }
    const f = await withBytes(c, t);
    if (f.field === 1 && f.wire === 0) dims.push(Number(BigInt.asIntN(64, f.int)));
    else if (f.field === 1 && f.wire === 2) {
      for (let p = 0; p < f.bytes.length;) {
        let v = 0n;
        for (let shift = 0n; ; shift += 7n) {
          const b = f.bytes[p++];
          v |= BigInt(b & 0x7f) << shift;
          if ((b & 0x80) === 0) break;
        }
        dims.push(Number(BigInt.asIntN(64, v)));
      }
    } else if (f.field === 2 && f.wire === 0) elemType = Number(f.int);
    else if (f.field === 8 && f.wire === 2) name = utf8(f.bytes);
    else if (f.field === 14 && f.wire === 0) external = f.int === 1n;
  }
  // Packed varints (int32_data/int64_data) are shorter on disk than in memory: count elements × size.
  const size = ELEM_BYTES[elemType];
  return { name, elemType, dims, external, payloadBytes: size && !external ? elementCount(dims) * size : payload };
}

export async function readOnnxModelHeaders(path: string): Promise<OnnxModel> {
  const file = await open(path, 'r');
  try {
    const c = new FileCursor(file, (await file.stat()).size);
    const modelFields: ProtoField[] = [];
    const graphFields: ProtoField[] = [];
    const tensors: OnnxTensor[] = [];
    for await (const f of fileFields(c, c.size)) {
      if (f.field !== 7 || f.wire !== 2) {
        modelFields.push(await withBytes(c, f));
        continue;
      }
      modelFields.push({ field: 7, wire: 2, int: 0n, bytes: EMPTY });
      for await (const g of fileFields(c, c.pos + f.length)) {
        if (g.field === 5 && g.wire === 2) {
          // The initializer's header, found again by its position in the field list.
          graphFields.push({ field: 5, wire: 2, int: BigInt(tensors.length), bytes: EMPTY });
          tensors.push(await tensorHeader(c, g.length));
        } else graphFields.push(await withBytes(c, g));
      }
    }
    return modelFromFields(modelFields, () => graphFromFields(graphFields, (t) => tensors[Number(t.int)]));
  } finally {
    await file.close();
  }
}
