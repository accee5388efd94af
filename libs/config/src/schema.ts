/**
 * A small declarative schema for run configs: each leaf gives its type, its
 * default and what it means, so validation, `--set` parsing and the help text
 * come from one table.
 */

export interface NumberField {
  kind: 'number';
  doc: string;
  default?: number;
  integer?: boolean;
  min?: number;
  max?: number;
  /** True when `min` itself is not allowed. */
  exclusiveMin?: boolean;
}

export interface StringField {
  kind: 'string';
  doc: string;
  default?: string;
  values?: readonly string[];
}

export interface BooleanField {
  kind: 'boolean';
  doc: string;
  default?: boolean;
}

export interface NumberListField {
  kind: 'numbers';
  doc: string;
  default?: readonly number[];
  length?: number;
  integer?: boolean;
  min?: number;
  max?: number;
}

export interface ObjectField {
  kind: 'object';
  doc: string;
  fields: Readonly<Record<string, Field>>;
}

export type Field = NumberField | StringField | BooleanField | NumberListField | ObjectField;

/** An invalid run config: a wrong type, an unknown key or a value out of range. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function describe(value: unknown): string {
  if (Array.isArray(value)) return `array ${JSON.stringify(value)}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function checkNumber(field: NumberField, value: unknown, key: string): number {
  if (typeof value !== 'number') {
    throw new ConfigError(key, `config key '${key}' must be a number, got ${describe(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new ConfigError(key, `config key '${key}' must be a finite number, got ${value}`);
  }
  if (field.integer && !Number.isInteger(value)) {
    throw new ConfigError(key, `config key '${key}' must be an integer, got ${value}`);
  }
  if (field.min !== undefined && (value < field.min || (field.exclusiveMin && value === field.min))) {
    const bound = field.exclusiveMin ? `greater than ${field.min}` : `at least ${field.min}`;
    throw new ConfigError(key, `config key '${key}' must be ${bound}, got ${value}`);
  }
  if (field.max !== undefined && value > field.max) {
    throw new ConfigError(key, `config key '${key}' must be at most ${field.max}, got ${value}`);
  }
  return value;
}

function checkLeaf(field: Exclude<Field, ObjectField>, value: unknown, key: string): unknown {
  switch (field.kind) {
    case 'number':
      return checkNumber(field, value, key);
    case 'string':
      if (typeof value !== 'string') {
        throw new ConfigError(key, `config key '${key}' must be a string, got ${describe(value)}`);
      }
      if (field.values && !field.values.includes(value)) {
        throw new ConfigError(
          key,
          `config key '${key}' must be one of ${field.values.map((v) => `'${v}'`).join(', ')}, got '${value}'`,
        );
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') {
        throw new ConfigError(key, `config key '${key}' must be true or false, got ${describe(value)}`);
      }
      return value;
    case 'numbers': {
      if (!Array.isArray(value)) {
        throw new ConfigError(key, `config key '${key}' must be an array of numbers, got ${describe(value)}`);
      }
      if (field.length !== undefined && value.length !== field.length) {
        throw new ConfigError(key, `config key '${key}' must have ${field.length} numbers, got ${value.length}`);
      }
      value.forEach((item, i) =>
        checkNumber({ kind: 'number', doc: '', integer: field.integer, min: field.min, max: field.max }, item, `${key}[${i}]`),
      );
      return [...value];
    }
  }
}

/**
 * Validates `value` against `field` and returns a copy with every default
 * filled in. Unknown keys and wrong types raise a ConfigError naming the key.
 */
export function validate(field: ObjectField, value: unknown, prefix = ''): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const key = prefix || '(root)';
    throw new ConfigError(key, `config key '${key}' must be an object, got ${describe(value)}`);
  }
  const input = value as Record<string, unknown>;
  for (const name of Object.keys(input)) {
    if (!Object.hasOwn(field.fields, name)) {
      const key = prefix ? `${prefix}.${name}` : name;
      const known = Object.keys(field.fields).join(', ');
      throw new ConfigError(key, `unknown config key '${key}'; known keys here: ${known}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(field.fields)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const given = input[name];
    if (child.kind === 'object') {
      out[name] = validate(child, given ?? {}, key);
    } else if (given !== undefined) {
      out[name] = checkLeaf(child, given, key);
    } else if (child.default !== undefined) {
      out[name] = Array.isArray(child.default) ? [...child.default] : child.default;
    }
  }
  return out;
}

/** Finds the leaf field at a dotted path such as `optim.lr`. */
export function fieldAt(root: ObjectField, path: string): Exclude<Field, ObjectField> {
  let node: Field = root;
  const parts = path.split('.');
  parts.forEach((part, i) => {
    if (node.kind !== 'object' || !Object.hasOwn(node.fields, part)) {
      const where = parts.slice(0, i + 1).join('.');
      throw new ConfigError(path, `unknown config key '${where}' in --set ${path}=...`);
    }
    node = node.fields[part]!;
  });
  if (node.kind === 'object') {
    throw new ConfigError(path, `--set needs a leaf key; '${path}' is a section with keys ${Object.keys(node.fields).join(', ')}`);
  }
  return node;
}

/** Parses the text of `--set key=value` according to the field's type. */
export function parseOverride(root: ObjectField, assignment: string): { path: string; value: Json } {
  const eq = assignment.indexOf('=');
  if (eq <= 0) {
    throw new ConfigError(assignment, `invalid --set '${assignment}': expected key=value, for example optim.lr=0.01`);
  }
  const path = assignment.slice(0, eq).trim();
  const text = assignment.slice(eq + 1).trim();
  const field = fieldAt(root, path);
  switch (field.kind) {
    case 'string':
      return { path, value: text };
    case 'number': {
      const value = Number(text);
      if (text === '' || Number.isNaN(value)) {
        throw new ConfigError(path, `invalid --set ${path}=${text}: expected a number`);
      }
      return { path, value };
    }
    case 'boolean':
      if (text !== 'true' && text !== 'false') {
        throw new ConfigError(path, `invalid --set ${path}=${text}: expected true or false`);
      }
      return { path, value: text === 'true' };
    case 'numbers': {
      const items = text.replace(/^\[|\]$/g, '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const value = items.map(Number);
      if (value.some((v) => Number.isNaN(v))) {
        throw new ConfigError(path, `invalid --set ${path}=${text}: expected numbers separated by commas`);
      }
      return { path, value };
    }
  }
}

/** Writes `value` at a dotted path inside a plain object, creating sections on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

/** Lists every leaf as `path (type, default): doc`, for help text. */
export function describeFields(root: ObjectField, prefix = ''): string[] {
  return Object.entries(root.fields).flatMap(([name, field]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    if (field.kind === 'object') return describeFields(field, path);
    const fallback = field.default === undefined ? '' : `, default ${JSON.stringify(field.default)}`;
    const values = field.kind === 'string' && field.values ? ` (${field.values.join('|')})` : '';
    return [`${path} (${field.kind}${fallback})${values}: ${field.doc}`];
  });
}
