export {
  REDIS_IMAGE,
  RedisContainer,
  checkRedisImage,
  startRedis,
  type StartRedisOptions,
} from './redis-container.js';
