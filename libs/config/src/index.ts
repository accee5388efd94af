export {
  ConfigError,
  describeFields,
  fieldAt,
  parseOverride,
  setPath,
  validate,
  type BooleanField,
  type Field,
  type NumberField,
  type NumberListField,
  type ObjectField,
  type StringField,
} from './schema.js';
export { RUN_CONFIG_SCHEMA, perRankBatch, readRunConfig, resolveRunConfig, type RunConfig } from './run-config.js';
