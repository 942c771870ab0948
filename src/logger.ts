import pino, { type Logger } from 'pino';

/** Structured JSON logs. Never log an email, a name, a token or a secret. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'identity-gateway' } });
}
