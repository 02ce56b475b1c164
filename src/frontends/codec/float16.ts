/** The codec's FP16 conversions are core's (model conversion uses the same ones). */
export { fromHalfBits, toHalfBits } from '../../core/float16.js';
