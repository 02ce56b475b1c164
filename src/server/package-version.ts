import { createRequire } from 'node:module';

/** This package's version, from package.json (found from the sources and from dist/ alike). */
export const PACKAGE_VERSION: string = (() => {
  const require = createRequire(import.meta.url);
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(p) as { name?: string; version?: string };
      if (pkg.name === 'open-autoglm' && pkg.version) return pkg.version;
    } catch { /* try the other layout */ }
  }
  return '0.0.0';
})();
