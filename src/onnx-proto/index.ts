export * from './reader.js';
export * from './writer.js';
export * from './model.js';
export * from './model-writer.js';
export * from './file-reader.js';
