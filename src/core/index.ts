export * from './datatype.js';
export * from './tensor.js';
export * from './request.js';
export * from './cancel.js';
export * from './errors.js';
export * from './model-config.js';
export * from './limits.js';
export * from './float16.js';
