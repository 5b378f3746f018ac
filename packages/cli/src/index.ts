export { LocalFleet, ServiceProcess, type FleetService, type LocalFleetOptions } from './local-fleet.js';
export { LocalRedis } from './local-redis.js';
export {
  harombeHome,
  readLocalCredentials,
  writeLocalCredentials,
  type LocalCredentials,
} from './local-credentials.js';
