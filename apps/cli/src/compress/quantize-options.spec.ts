import { describe, expect, it } from 'vitest';
import { UsageError } from '../args.js';
import { quantizeRequest } from './quantize-options.js';

describe('quantizeRequest', () => {
  it('reads node lists, trimming spaces', () => {
    const request = quantizeRequest({ include: ' fc0, fc1 ', exclude: 'fc2' });
    expect(request.include).toEqual(['fc0', 'fc1']);
    expect(request.exclude).toEqual(['fc2']);
  });

  it('EXPECTED FAILURE - empty or contradicting node lists', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ include: '' }, /--include '' names no node; pass comma-separated node names or drop --include/],
      [{ include: ' , ,' }, /--include ' , ,' names no node/],
      [{ exclude: ',' }, /--exclude ',' names no node; pass comma-separated node names or drop --exclude/],
      [{ include: 'fc0,fc1', exclude: 'fc1' }, /--include and --exclude both name fc1; name each node in one of them/],
    ];
    for (const [values, message] of cases) {
      expect(() => quantizeRequest(values), JSON.stringify(values)).toThrow(UsageError);
      expect(() => quantizeRequest(values), JSON.stringify(values)).toThrow(message);
    }
  });
});
