import { describe, expect, it } from 'vitest';
import { main } from './example';

describe('README', () => {
  it('runs the example', async () => {
    expect(await main()).toBe('least_request reached 3 replicas; alice always went to 1 replica');
  });
});
