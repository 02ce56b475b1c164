/**
 * Typing a parsed text-format message against a schema: field kinds, enums, maps, repeated vs singular.
 * A field the schema does not know is an error; a field the schema lists as `unimplemented` (a real Triton
 * field we do not act on) becomes a warning. Both carry file:line. The decoded value is a plain object keyed
 * by field name holding only the fields that were written, so later phases can tell "absent" from "zero".
 */
import { ConfigError, formatPlace } from './config-error.js';
import { EMPTY_LIST, type PbField, type PbMessage, type PbValue } from './pbtxt.js';

export type ScalarKind = 'string' | 'int' | 'uint' | 'bool' | 'float';
/** Enum names in the order of their numeric values (index = value), so `kind: 2` reads as names[2]. */
export type EnumKind = { readonly enum: readonly string[] };
export type MessageKind = { readonly message: MessageSchema };
export type MapKind = { readonly map: { readonly key: 'string' | 'uint'; readonly value: ScalarKind | MessageKind } };
export type FieldKind = ScalarKind | EnumKind | MessageKind | MapKind;

export interface FieldSchema {
  readonly kind: FieldKind;
  readonly repeated?: boolean;
}

export interface MessageSchema {
  /** The protobuf message name, for messages ("unknown field x in ModelInput"). */
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldSchema>>;
  /** Fields of this message in Triton's schema that this server does not act on. */
  readonly unimplemented?: readonly string[];
  /** Groups of fields of which at most one may be written (protobuf oneof). */
  readonly oneofs?: readonly (readonly string[])[];
}

/** A decoded message: only written fields; repeated fields are arrays; maps are records. */
export type Decoded = { [field: string]: DecodedValue };
export type DecodedValue = string | number | boolean | typeof IGNORED | Decoded | DecodedValue[] | { [key: string]: DecodedValue };

export interface DecodeResult {
  readonly value: Decoded;
  readonly warnings: string[];
  /** Line where each decoded message object (and each element of a message list) starts, and each field's line. */
  readonly lines: SourceLines;
}

/** Where decoded objects came from, so later checks can name a line. */
export class SourceLines {
  private readonly objects = new WeakMap<object, number>();
  private readonly fields = new WeakMap<object, Map<string, number>>();
  setObject(o: object, line: number): void {
    this.objects.set(o, line);
  }
  setField(o: object, field: string, line: number): void {
    let m = this.fields.get(o);
    if (!m) this.fields.set(o, (m = new Map()));
    if (!m.has(field)) m.set(field, line);
  }
  /** Line of a field of `o`, else where `o` starts, else 0. */
  lineOf(o: object | undefined, field?: string): number {
    if (!o) return 0;
    if (field !== undefined) {
      const l = this.fields.get(o)?.get(field);
      if (l !== undefined) return l;
    }
    return this.objects.get(o) ?? 0;
  }
  /** Carry a line over to an object derived from `from`. */
  copy(from: object, to: object): void {
    const l = this.objects.get(from);
    if (l !== undefined) this.objects.set(to, l);
    const f = this.fields.get(from);
    if (f) this.fields.set(to, f);
  }
}

/** The value of a field the schema lists as unimplemented: written in the file, not read. */
export const IGNORED = Symbol('ignored field');

export function decodeMessage(msg: PbMessage, schema: MessageSchema, file: string): DecodeResult {
  const warnings: string[] = [];
  const lines = new SourceLines();
  const value = new Decoder(file, warnings, lines).message(msg, schema);
  return { value, warnings, lines };
}

class Decoder {
  constructor(
    private readonly file: string,
    private readonly warnings: string[],
    private readonly lines: SourceLines,
  ) {}

  private fail(line: number, what: string): never {
    throw new ConfigError(this.file, line, what);
  }

  message(msg: PbMessage, schema: MessageSchema): Decoded {
    const out: Decoded = {};
    this.lines.setObject(out, msg.line);
    const seen = new Map<string, number>();
    for (const f of msg.fields) {
      const fs = schema.fields[f.name];
      if (!fs) {
        if (schema.unimplemented?.includes(f.name)) {
          this.warnings.push(`${formatPlace(this.file, f.line)}: field ${f.name} in ${schema.name} is not implemented by this server; ignored`);
          // Kept as a marker only, so that a caller can tell it was written (e.g. sequence_batching vs response_cache).
          out[f.name] = IGNORED;
          continue;
        }
        this.fail(f.line, `unknown field ${f.name} in ${schema.name}`);
      }
      const first = seen.get(f.name);
      const isMap = typeof fs.kind === 'object' && 'map' in fs.kind;
      if (first !== undefined && !fs.repeated && !isMap) {
        this.fail(f.line, `field ${f.name} in ${schema.name} is given twice (first at line ${first})`);
      }
      if (first === undefined) seen.set(f.name, f.line);
      this.lines.setField(out, f.name, f.line);
      const emptyList = f.value.kind === 'message' && f.value.message === EMPTY_LIST;
      if (fs.repeated || isMap) {
        if (emptyList) {
          out[f.name] ??= isMap ? {} : [];
          continue;
        }
        if (isMap) {
          const map = (out[f.name] ??= {}) as Record<string, DecodedValue>;
          this.mapEntry(f, (fs.kind as MapKind).map, map);
        } else {
          ((out[f.name] ??= []) as DecodedValue[]).push(this.value(f, fs.kind));
        }
      } else {
        if (emptyList) this.fail(f.line, `field ${f.name} in ${schema.name} is not a list`);
        out[f.name] = this.value(f, fs.kind);
      }
    }
    for (const group of schema.oneofs ?? []) {
      const written = group.filter((g) => seen.has(g));
      if (written.length > 1) {
        this.fail(seen.get(written[1])!, `fields ${written.join(' and ')} in ${schema.name} exclude each other`);
      }
    }
    return out;
  }

  private mapEntry(f: PbField, kind: MapKind['map'], map: Record<string, DecodedValue>): void {
    if (f.value.kind !== 'message') this.fail(f.line, `field ${f.name} is a map: write ${f.name} { key: … value: … }`);
    const entrySchema: MessageSchema = {
      name: `${f.name} entry`,
      fields: { key: { kind: kind.key }, value: { kind: kind.value } },
    };
    const entry = this.message(f.value.message, entrySchema);
    if (entry.key === undefined) this.fail(f.line, `map entry of ${f.name} has no key`);
    const key = String(entry.key);
    if (key in map) this.fail(f.line, `map ${f.name} has key "${key}" twice`);
    const v = entry.value ?? this.zero(kind.value);
    map[key] = v;
    if (typeof v === 'object') this.lines.setObject(v, f.line);
  }

  private zero(kind: ScalarKind | MessageKind): DecodedValue {
    if (typeof kind === 'object') return {};
    return kind === 'string' ? '' : kind === 'bool' ? false : 0;
  }

  private value(f: PbField, kind: FieldKind): DecodedValue {
    const v = f.value;
    if (typeof kind === 'object' && 'message' in kind) {
      if (v.kind !== 'message') this.fail(f.line, `field ${f.name} is a message: write ${f.name} { … }`);
      return this.message(v.message, kind.message);
    }
    if (v.kind === 'message') this.fail(f.line, `field ${f.name} takes a value, not a message`);
    if (typeof kind === 'object' && 'enum' in kind) return this.enumValue(f, v, kind.enum);
    if (typeof kind === 'object') this.fail(f.line, `field ${f.name} is a map`);
    switch (kind) {
      case 'string':
        if (v.kind !== 'string') this.fail(f.line, `field ${f.name} takes a quoted string`);
        return v.value;
      case 'bool':
        if (v.kind === 'ident' && ['true', 'True', 't'].includes(v.value)) return true;
        if (v.kind === 'ident' && ['false', 'False', 'f'].includes(v.value)) return false;
        if (v.kind === 'number' && (v.text === '0' || v.text === '1')) return v.text === '1';
        return this.fail(f.line, `field ${f.name} takes true or false`);
      case 'float':
        if (v.kind === 'number') return v.value;
        if (v.kind === 'ident' && /^(inf|infinity|nan)$/i.test(v.value)) return /^nan$/i.test(v.value) ? NaN : Infinity;
        return this.fail(f.line, `field ${f.name} takes a number`);
      case 'int':
      case 'uint': {
        if (v.kind !== 'number' || !/^-?(?:[0-9]+|0[xX][0-9A-Fa-f]+)$/.test(v.text)) {
          this.fail(f.line, `field ${f.name} takes an integer`);
        }
        if (!Number.isSafeInteger(v.value)) this.fail(f.line, `field ${f.name}: ${v.text} is out of range`);
        if (kind === 'uint' && v.value < 0) this.fail(f.line, `field ${f.name} cannot be negative`);
        return v.value;
      }
    }
  }

  private enumValue(f: PbField, v: Exclude<PbValue, { kind: 'message' }>, names: readonly string[]): string {
    if (v.kind === 'ident' && names.includes(v.value)) return v.value;
    if (v.kind === 'number' && Number.isInteger(v.value) && v.value >= 0 && v.value < names.length) return names[v.value];
    const shown = v.kind === 'string' ? `"${v.value}"` : v.kind === 'number' ? v.text : v.value;
    return this.fail(f.line, `field ${f.name}: ${shown} is not one of ${names.join(', ')}`);
  }
}
