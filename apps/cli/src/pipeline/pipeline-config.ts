import { readFileSync } from 'node:fs';
import { ConfigError, resolveRunConfig, type RunConfig } from '@ringtrain/config';

/**
 * A large-vs-small pipeline: a teacher, a student trained alone, and the same student distilled
 * from the teacher. `base` is the run config that all three share. `teacher` and `student`
 * are overrides on top of it, and `distill` contains the distillation settings of the third run.
 */
export interface PipelineConfig {
  workers: number;
  base: Record<string, unknown>;
  teacher: Record<string, unknown>;
  student: Record<string, unknown>;
  distill: Record<string, unknown>;
}

/** The run configs of the three stages, validated. */
export interface PipelineStages {
  teacher: RunConfig;
  student: RunConfig;
  /** The distilled student's config without `distill.teacher`, which the pipeline sets. */
  distilled: RunConfig;
}

const KEYS = ['workers', 'base', 'teacher', 'student', 'distill'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns `base` with `over` merged into it, section by section. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(over)) {
    out[key] = isObject(value) && isObject(out[key]) ? mergeConfig(out[key], value) : structuredClone(value);
  }
  return out;
}

/**
 * Validates a pipeline config and the run config of each stage. The student alone and the
 * distilled student get the same config apart from `distill`, so they differ only in their loss.
 *
 * @throws ConfigError naming the key
 */
export function resolvePipeline(raw: unknown, overrides: readonly string[] = []): { pipeline: PipelineConfig; stages: PipelineStages } {
  if (!isObject(raw)) throw new ConfigError('(root)', 'a pipeline config must be a JSON object with workers, base, teacher, student and distill');
  for (const key of Object.keys(raw)) {
    if (!(KEYS as readonly string[]).includes(key)) throw new ConfigError(key, `unknown pipeline key '${key}'; known keys: ${KEYS.join(', ')}`);
  }
  const workers = raw['workers'];
  if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1) {
    throw new ConfigError('workers', `pipeline key 'workers' must be a positive integer, got ${JSON.stringify(workers)}`);
  }
  for (const key of ['base', 'teacher', 'student', 'distill'] as const) {
    if (raw[key] !== undefined && !isObject(raw[key])) throw new ConfigError(key, `pipeline key '${key}' must be an object of run config keys`);
  }
  const section = (key: (typeof KEYS)[number]) => (raw[key] ?? {}) as Record<string, unknown>;
  const pipeline: PipelineConfig = { workers, base: section('base'), teacher: section('teacher'), student: section('student'), distill: section('distill') };
  if ('teacher' in pipeline.distill) {
    throw new ConfigError('distill.teacher', "the pipeline sets distill.teacher to its own teacher's model.onnx; leave it out");
  }
  const stage = (name: string, over: Record<string, unknown>) => {
    try {
      return resolveRunConfig(mergeConfig(pipeline.base, over), overrides);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(err.key, `${name} stage: ${err.message}`);
      throw err;
    }
  };
  const studentRaw = mergeConfig(pipeline.student, { distill: pipeline.distill });
  return {
    pipeline,
    stages: {
      teacher: stage('teacher', pipeline.teacher),
      student: stage('student', studentRaw),
      distilled: stage('student-distilled', studentRaw),
    },
  };
}

/** Reads a pipeline config file; parse errors name the file. */
export function readPipeline(path: string, overrides: readonly string[] = []): { pipeline: PipelineConfig; stages: PipelineStages } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('(file)', `cannot read pipeline config ${path}: ${(err as Error).message}`);
  }
  return resolvePipeline(raw, overrides);
}
