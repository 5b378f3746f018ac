export {
  REDIS_IMAGE,
  RedisContainer,
  checkRedisImage,
  freeLoopbackPort,
  startRedis,
  type StartRedisOptions,
} from './redis-container.js';
export { NETWORK_PROBES } from './network-probes.js';
export { WebhookReceiver, type ReceivedRequest, type ReceiverAnswer } from './webhook-receiver.js';
export { commandRunner, tempDir, type CommandRunner, type RunOptions } from './command-runner.js';
export { metricSample } from './metric-sample.js';
