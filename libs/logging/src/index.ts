export { createLogger, silentLogger, type LogContext, type Logger } from './logger.js';
