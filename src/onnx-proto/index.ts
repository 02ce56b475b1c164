export * from './reader.js';
export * from './writer.js';
export * from './read-file.js';
export * from './graph-edit.js';
export * from './model.js';
export * from './model-writer.js';
export * from './read-file-structure.js';
