export { HttpFrontend, type HttpFrontendOptions, type FrontendService } from './http-server.js';
export { ThreadedHttpFrontend, type ThreadedHttpFrontendOptions } from './threaded-frontend.js';
