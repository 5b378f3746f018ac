export * from './abort-scope.js';
export * from './harombe-api-error.js';
export * from './harombe-client.js';
export * from './response-schemas.js';
export * from './sse-parser.js';
export * from './webhook-verifier.js';
