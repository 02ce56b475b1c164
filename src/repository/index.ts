export { parsePbtxt, type PbMessage, type PbField, type PbValue, type PbScalar } from './pbtxt.js';
export { configFromPbtxt, type ParsedConfig } from './config-from-pbtxt.js';
export { ConfigError } from './config-error.js';
export { loadModelConfig, type LoadConfigOptions, type LoadedConfig } from './load-config.js';
export {
  scanRepositories, scanModel, selectVersions, modelFilePath, type ScannedModel, type IgnoredEntry,
} from './scan.js';
export { isPlainName } from './validate.js';
export { DEFAULT_MAX_BATCH_SIZE, CONFIG_FILENAME } from './defaults.js';
export { modelFingerprint } from './fingerprint.js';
