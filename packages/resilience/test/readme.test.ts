import { describe, expect, it } from 'vitest';
import { main } from './example';

describe('README', () => {
  it('runs the example', async () => {
    expect(await main()).toBe('echo: hello');
  });
});
