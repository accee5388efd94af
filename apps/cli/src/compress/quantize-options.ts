import type { CalibrationMethod } from '@ringtrain/quantize';
import { positiveInt, UsageError } from '../args.js';

/** Calibration samples when `--calibration-samples` is not given. */
export const DEFAULT_CALIBRATION_SAMPLES = 256;
/** Percent kept by `--calibrate percentile` when `--percentile` is not given. */
export const DEFAULT_PERCENTILE = 99.99;

const MODES = ['dynamic', 'static', 'float16'] as const;
const METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];
const ACTIVATIONS = ['asymmetric', 'symmetric'] as const;

/** Compression settings of `ringtrain quantize`, read from its flags. */
export interface QuantizeRequest {
  mode: (typeof MODES)[number];
  perChannel: boolean;
  include?: string[];
  exclude?: string[];
  /** Calibration of `--mode static`. */
  calibration?: {
    method: CalibrationMethod;
    percentile: number;
    samples: number;
    activations: (typeof ACTIVATIONS)[number];
    /** Seed of the sample, or undefined for the run config's seed. */
    seed?: number;
  };
}

/** Flags that only `--mode static` reads. */
const STATIC_FLAGS = ['calibrate', 'calibration-samples', 'percentile', 'activations', 'seed'];

/** Reads a comma-separated list of node names; a given flag must name at least one. */
function nodeList(flag: string, value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError(`--${flag} '${value}' names no node; pass comma-separated node names or drop --${flag}`);
  return names;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`--${flag} ${text} is not supported; use ${allowed.join(', ')}`);
  return text as T;
}

function percentileFlag(text: string): number {
  const value = Number(text);
  if (!(value > 0 && value <= 100) || text.trim() === '') {
    throw new UsageError(`--percentile must be a number in (0, 100], the percent of values to keep, such as 99.99; got '${text}'`);
  }
  return value;
}

function seedFlag(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32 || text.trim() === '') {
    throw new UsageError(`--seed must be an integer in [0, 2^32), got '${text}'`);
  }
  return value;
}

/**
 * Reads and checks the mode flags of `ringtrain quantize`.
 *
 * @throws UsageError on an unknown mode, method or activation type, a value out of range, or a
 *   flag that the chosen mode does not read
 */
export function quantizeRequest(values: Record<string, unknown>): QuantizeRequest {
  const mode = oneOf('mode', (values['mode'] as string | undefined) ?? 'dynamic', MODES);
  const request: QuantizeRequest = { mode, perChannel: values['per-tensor'] !== true };
  const include = nodeList('include', values['include']);
  const exclude = nodeList('exclude', values['exclude']);
  const both = include?.filter((name) => exclude?.includes(name)) ?? [];
  if (both.length > 0) throw new UsageError(`--include and --exclude both name ${both.join(', ')}; name each node in one of them`);
  if (include !== undefined) request.include = include;
  if (exclude !== undefined) request.exclude = exclude;
  for (const flag of ['per-tensor', 'per-channel']) {
    if (mode === 'float16' && values[flag] === true) throw new UsageError(`--${flag} applies to int8 weights only; drop it or use --mode dynamic or static`);
  }
  if (mode !== 'static') {
    const staticFlag = STATIC_FLAGS.find((flag) => values[flag] !== undefined);
    if (staticFlag !== undefined) throw new UsageError(`--${staticFlag} applies only to --mode static; drop it or add --mode static`);
    return request;
  }
  const method = oneOf('calibrate', (values['calibrate'] as string | undefined) ?? 'minmax', METHODS);
  if (values['percentile'] !== undefined && method !== 'percentile') {
    throw new UsageError(`--percentile applies only to --calibrate percentile, not --calibrate ${method}`);
  }
  request.calibration = {
    method,
    percentile: values['percentile'] === undefined ? DEFAULT_PERCENTILE : percentileFlag(values['percentile'] as string),
    samples: values['calibration-samples'] === undefined ? DEFAULT_CALIBRATION_SAMPLES : positiveInt(values['calibration-samples'] as string, 'calibration-samples'),
    activations: oneOf('activations', (values['activations'] as string | undefined) ?? 'asymmetric', ACTIVATIONS),
  };
  if (values['seed'] !== undefined) request.calibration.seed = seedFlag(values['seed'] as string);
  return request;
}
