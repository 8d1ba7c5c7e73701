import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from './example';

describe('README', () => {
  it('shows the example as it is in test/example.ts', () => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const example = readFileSync(join(__dirname, 'example.ts'), 'utf8');
    expect(readme).toContain(example.trim());
  });

  it('runs the example', async () => {
    expect(await main()).toBe('least_request reached 3 replicas; alice always went to 1 replica');
  });
});
