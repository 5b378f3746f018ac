#!/usr/bin/env node
import { createLogger, loadServiceConfig } from '@harombe/service-kit';
import { WorkerService } from './worker-service.js';

const logger = createLogger('worker');
try {
  const config = loadServiceConfig();
  const worker = new WorkerService({
    config,
    logger,
    ...(process.env.HAROMBE_WORKER_ID ? { workerId: process.env.HAROMBE_WORKER_ID } : {}),
    opsHost: process.env.HAROMBE_OPS_HOST ?? '127.0.0.1',
    opsPort: Number(process.env.HAROMBE_OPS_PORT ?? 9101),
  });
  await worker.start();
  logger.info({ worker_id: worker.workerId, ops: worker.opsAddress }, 'worker started');
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping: finishing running jobs');
      worker.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'stop failed');
          process.exit(1);
        },
      );
    });
  }
} catch (error) {
  logger.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
}
