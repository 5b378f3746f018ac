export * from './commands/index.js';
export { LocalFleet, type LocalFleetOptions } from './local-fleet.js';
export { LocalRedis } from './local-redis.js';
export { freeLoopbackPort } from './loopback-port.js';
export { ServiceProcess, type FleetService } from './service-process.js';
