export { HttpFrontend, type HttpFrontendOptions } from './http-server.js';
