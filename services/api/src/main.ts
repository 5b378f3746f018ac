#!/usr/bin/env node
import { createLogger, loadServiceConfig } from '@harombe/service-kit';
import { ApiService } from './api-service.js';

const logger = createLogger('api');
try {
  const config = loadServiceConfig();
  if (config.api.keys.length === 0)
    logger.warn('no API keys are configured: every request will be refused (api.keys in harombe.yaml)');
  const api = new ApiService({ config, logger });
  await api.start();
  logger.info({ address: api.address }, 'api listening');
  const stop = (): void =>
    void api.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  logger.fatal({ err: error }, 'api failed to start');
  process.exit(1);
}
