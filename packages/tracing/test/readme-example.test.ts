import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..', '..');

describe('README example', () => {
  it('runs: one trace across client and server, trace id echoed', () => {
    const tsx = createRequire(__filename).resolve('tsx/cli');
    const out = execFileSync(
      process.execPath,
      [tsx, '--tsconfig', join(root, 'tsconfig.json'), join(__dirname, 'example', 'greeter.ts')],
      { cwd: root, encoding: 'utf8', timeout: 30_000 },
    );
    const traceIds = new Set(out.match(/traceId: '([0-9a-f]{32})'/g));
    expect(traceIds.size).toBe(1);
    expect(out).toContain("name: 'demo.Greeter/SayHello'");
    expect(out).toMatch(/x-trace-id: \[ '[0-9a-f]{32}' \]/);
    expect(out).toContain("message: 'hello weft'");
  });
});
