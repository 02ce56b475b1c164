// repeat_int32: answers a request with one response per element of IN (OUT = IN[i], IDX = i), each DELAY[i] ms after
// the one before; then waits WAIT ms before the request ends. An async generator: the server sends each yielded item
// as one response, and stops it (its return() runs) when the client goes away.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let maxElements = 100000;

export function initialize(context) {
  const v = Number(context.config.parameters?.max_elements?.string_value ?? maxElements);
  if (!Number.isInteger(v) || v < 1) throw new Error(`parameter max_elements must be a whole number >= 1, got ${v}`);
  maxElements = v;
}

function badInput(message) {
  return Object.assign(new Error(message), { code: 'INVALID_ARGUMENT' });
}

export function execute(inputs) {
  const byName = new Map(inputs.map((t) => [t.name, t]));
  const values = byName.get('IN').data;
  const delays = byName.get('DELAY')?.data;
  const wait = byName.get('WAIT')?.data[0] ?? 0;
  // Checked before the first response, so a bad request fails with no partial answer.
  if (values.length > maxElements) throw badInput(`IN has ${values.length} elements; at most ${maxElements} (parameter max_elements)`);
  if (delays && delays.length !== values.length) throw badInput(`DELAY has ${delays.length} elements, IN has ${values.length}: one delay per element`);
  return respond(values, delays, wait);
}

async function* respond(values, delays, wait) {
  for (let i = 0; i < values.length; i++) {
    if (delays && delays[i] > 0) await sleep(delays[i]);
    yield [
      { name: 'OUT', datatype: 'INT32', shape: [1], data: Int32Array.of(values[i]) },
      { name: 'IDX', datatype: 'UINT32', shape: [1], data: Uint32Array.of(i) },
    ];
  }
  if (wait > 0) await sleep(wait);
}
