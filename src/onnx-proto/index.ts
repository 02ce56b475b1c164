export * from './reader.js';
export * from './writer.js';
export * from './read-file.js';
export * from './graph-edit.js';
