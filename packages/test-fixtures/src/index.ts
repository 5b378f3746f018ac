export {
  REDIS_IMAGE,
  RedisContainer,
  checkRedisImage,
  freeLoopbackPort,
  startRedis,
  type StartRedisOptions,
} from './redis-container.js';
