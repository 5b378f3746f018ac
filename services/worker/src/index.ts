export { RedisSandboxRegistry } from './redis-sandbox-registry.js';
export { WorkerService, type WorkerServiceOptions } from './worker-service.js';
