#!/usr/bin/env node
import { createLogger, loadServiceConfig } from '@harombe/service-kit';
import { McpService } from './mcp-service.js';

const logger = createLogger('mcp');
try {
  const service = new McpService({ config: loadServiceConfig(), logger });
  await service.start();
  const stop = (): void => void service.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  logger.fatal({ err: error }, 'mcp service failed to start');
  process.exit(1);
}
