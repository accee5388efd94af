import { describe, expect, it } from 'vitest';
import { ConfigError, describeFields } from './schema.js';
import { RUN_CONFIG_SCHEMA, perRankBatch, resolveRunConfig } from './run-config.js';

describe('resolveRunConfig', () => {
  it('fills defaults', () => {
    const config = resolveRunConfig({ train: { epochs: 1 } });
    expect(config.seed).toBe(0);
    expect(config.model.hidden).toEqual([800, 800]);
    expect(config.optim.betas).toEqual([0.9, 0.999]);
    expect(config.train.steps).toBeUndefined();
  });

  it('applies --set overrides by type', () => {
    const config = resolveRunConfig({ train: { epochs: 1 } }, [
      'optim.lr=0.01',
      'optim.nesterov=true',
      'model.hidden=1200,1200',
      'data.path=/tmp/mnist',
      'optim.name=adamw',
    ]);
    expect(config.optim.lr).toBe(0.01);
    expect(config.optim.nesterov).toBe(true);
    expect(config.model.hidden).toEqual([1200, 1200]);
    expect(config.data.path).toBe('/tmp/mnist');
    expect(config.optim.name).toBe('adamw');
  });

  it('EXPECTED FAILURE - unknown key names the key', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1, batchSzie: 3 } })).toThrow(
      /unknown config key 'train.batchSzie'/,
    );
  });

  it('EXPECTED FAILURE - wrong type names key and value', () => {
    expect(() => resolveRunConfig({ train: { epochs: '3' } })).toThrow(
      /config key 'train.epochs' must be a number, got string "3"/,
    );
  });

  it('EXPECTED FAILURE - enum value outside the list', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1 }, optim: { name: 'lamb' } })).toThrow(
      /'optim.name' must be one of 'sgd', 'adamw', got 'lamb'/,
    );
  });

  it('EXPECTED FAILURE - both epochs and steps', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1, steps: 5 } })).toThrow(/exactly one of train.epochs/);
  });

  it('EXPECTED FAILURE - unknown --set key', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1 } }, ['optim.learningRate=1'])).toThrow(
      /unknown config key 'optim.learningRate'/,
    );
  });

  it('EXPECTED FAILURE - --set value of the wrong type', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1 } }, ['optim.lr=fast'])).toThrow(
      /invalid --set optim.lr=fast: expected a number/,
    );
  });

  it('EXPECTED FAILURE - integer key given a fraction', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1.5 } })).toThrow(/'train.epochs' must be an integer, got 1.5/);
  });

  it('lets --set train.steps replace train.epochs', () => {
    const config = resolveRunConfig({ train: { epochs: 3 } }, ['train.steps=50']);
    expect(config.train.steps).toBe(50);
    expect(config.train.epochs).toBeUndefined();
  });

  it('EXPECTED FAILURE - __proto__ is an unknown key', () => {
    expect(() => resolveRunConfig(JSON.parse('{"train": {"epochs": 1}, "__proto__": {"seed": 3}}'))).toThrow(
      /unknown config key '__proto__'/,
    );
  });

  it('EXPECTED FAILURE - heartbeat timeout below two intervals', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1 }, cluster: { heartbeatMs: 1000, heartbeatTimeoutMs: 1500 } })).toThrow(
      /cluster.heartbeatTimeoutMs 1500 must be at least twice cluster.heartbeatMs 1000/,
    );
  });

  it('EXPECTED FAILURE - a beta of 1', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1 }, optim: { betas: [1, 0.99] } })).toThrow(/'optim.betas\[0\]' must be at most/);
  });

  it('EXPECTED FAILURE - cosine minLr above lr', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1 }, schedule: { name: 'cosine', minLr: 1 } })).toThrow(/schedule.minLr 1 is above optim.lr/);
  });

  it('allows any head count once model.headSize is set', () => {
    const gpt = { model: { kind: 'gpt', nEmbd: 128, nHead: 3 }, data: { name: 'text' }, train: { steps: 1 } };
    expect(() => resolveRunConfig(gpt)).toThrow(/model.nEmbd 128 is not a multiple of model.nHead 3;.*unless model.headSize is set/);
    const config = resolveRunConfig(gpt, ['model.headSize=32', 'model.mlpHidden=300']);
    expect(config.model).toMatchObject({ nHead: 3, headSize: 32, mlpHidden: 300 });
    expect(resolveRunConfig({ train: { steps: 1 } }).model).toMatchObject({ headSize: 0, mlpHidden: 0 });
  });

  it('EXPECTED FAILURE - --set of both epochs and steps', () => {
    expect(() => resolveRunConfig({ train: { epochs: 1 } }, ['train.steps=5', 'train.epochs=2'])).toThrow(/both train.epochs and train.steps/);
  });

  it('fills the quantisation-aware training defaults', () => {
    const config = resolveRunConfig({ train: { epochs: 1 } }, ['quant.aware=true', 'quant.activationRange=batch']);
    expect(config.quant).toEqual({ aware: true, perChannel: true, activations: true, activationRange: 'batch' });
    expect(resolveRunConfig({ train: { epochs: 1 } }).quant.aware).toBe(false);
  });

  it('EXPECTED FAILURE - quantisation-aware training of a GPT', () => {
    const raw = { model: { kind: 'gpt' }, data: { name: 'text' }, train: { steps: 1 }, quant: { aware: true } };
    expect(() => resolveRunConfig(raw)).toThrow(ConfigError);
    expect(() => resolveRunConfig(raw)).toThrow(/quantisation-aware training is built for mlp models, but model.kind is gpt; set quant.aware=false/);
    try {
      resolveRunConfig(raw);
    } catch (err) {
      expect((err as ConfigError).key).toBe('quant.aware');
    }
  });

  it('does not modify its input', () => {
    const raw = { train: { epochs: 1 } };
    resolveRunConfig(raw, ['train.batchSize=64']);
    expect(raw).toEqual({ train: { epochs: 1 } });
  });
});

describe('perRankBatch', () => {
  it('divides the global batch by the world size', () => {
    expect(perRankBatch(resolveRunConfig({ train: { epochs: 1, batchSize: 96 } }), 3)).toBe(32);
  });

  it('EXPECTED FAILURE - names both numbers', () => {
    const config = resolveRunConfig({ train: { epochs: 1, batchSize: 128 } });
    expect(() => perRankBatch(config, 3)).toThrow(ConfigError);
    expect(() => perRankBatch(config, 3)).toThrow(/train.batchSize 128 .* not divisible by the world size 3/);
  });
});

describe('describeFields', () => {
  it('lists every leaf with its default', () => {
    const lines = describeFields(RUN_CONFIG_SCHEMA);
    expect(lines).toContain('optim.lr (number, default 0.05): peak learning rate');
    expect(lines.some((l) => l.startsWith('cluster.threadsPerWorker'))).toBe(true);
  });
});
