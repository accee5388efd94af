export { formatProgress, renderLogLine } from './log-render.js';
