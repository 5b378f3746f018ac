#!/usr/bin/env node
import { createLogger, loadServiceConfig } from '@harombe/service-kit';
import { ApprovalService } from './approval-service.js';

const logger = createLogger('approval');
try {
  const service = new ApprovalService({
    config: loadServiceConfig(),
    logger,
    opsHost: process.env.HAROMBE_OPS_HOST ?? '127.0.0.1',
    opsPort: Number(process.env.HAROMBE_OPS_PORT ?? 9102),
  });
  await service.start();
  const stop = (): void =>
    void service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  logger.fatal({ err: error }, 'approval service failed to start');
  process.exit(1);
}
