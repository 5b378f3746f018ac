export { ApiKeyring, requireScope, sha256Hex } from './api-keyring.js';
export { buildApiServer, type ApiServer, type ApiServerOptions } from './api-server.js';
export { ApiService, type ApiServiceOptions } from './api-service.js';
export { toErrorResponse } from './http-errors.js';
