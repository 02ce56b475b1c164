/**
 * A plain model name (one path segment: no separators, not hidden, not `..`), so a name from a URL can never
 * reach outside its repository. The repository's rule, shared so the frontends and the server refuse the same names.
 */
export { isPlainName } from '../repository/index.js';
