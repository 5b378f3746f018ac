import { redactText } from '@harombe/core';
import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';
import type { Logger } from 'pino';

/** Bolt's logger interface over the service's pino logger; Bolt's messages are redacted like ours. */
export class BoltLogger implements SlackLogger {
  private level: LogLevel = LogLevel.INFO;

  constructor(private logger: Logger) {}

  debug(...messages: unknown[]): void {
    this.logger.debug(this.text(messages));
  }
  info(...messages: unknown[]): void {
    this.logger.info(this.text(messages));
  }
  warn(...messages: unknown[]): void {
    this.logger.warn(this.text(messages));
  }
  error(...messages: unknown[]): void {
    this.logger.error(this.text(messages));
  }
  setLevel(level: LogLevel): void {
    this.level = level;
  }
  getLevel(): LogLevel {
    return this.level;
  }
  setName(name: string): void {
    this.logger = this.logger.child({ slack: name });
  }

  private text(messages: unknown[]): string {
    return redactText(
      messages.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m))).join(' '),
    );
  }
}
