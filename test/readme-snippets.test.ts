/**
 * Every ```ts block of every README compiles as a user would compile it: TypeScript's
 * `module: nodenext`, `strict`, with `@weft/*` resolved through node_modules to the built packages'
 * `exports` (dist/*.d.ts, so run `npm run build` first), never to their sources.
 *
 * A block is a file of its own: an ES module (`.mts`) next to the repository root unless marked.
 * Two markers, an HTML comment on the line right above the fence (invisible on GitHub); keep them
 * rare and prefer complete blocks:
 *
 *   <!-- snippet file: packages/etcd/test/example/server.ts -->
 *     compile the block as that file (its place decides relative imports and, by the nearest
 *     package.json, ESM or CommonJS); for blocks that show a real file of the repository.
 *   <!-- snippet declare: const handlers: grpc.UntypedServiceImplementation; -->
 *     TypeScript appended to the block: ambient declarations for what the reader already has
 *     (their service, their handlers), which the block deliberately leaves out.
 *
 * An error fails the test with README:line and the compiler's message.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');

interface Snippet {
  /** README path relative to the repository root. */
  readme: string;
  /** 1-based README line of the block's first code line. */
  line: number;
  code: string;
  /** Absolute path the block is compiled as. */
  file: string;
  /** Lines of `code` that come from the README (the rest are appended declarations). */
  codeLines: number;
}

const FENCE_OPEN = /^(\s*)```ts\s*$/;
const MARKER = /^\s*<!--\s*snippet (file|declare):\s*([\s\S]*?)\s*-->\s*$/;

/** The ```ts blocks of one README with their markers. */
function extractSnippets(readme: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i] ?? '');
    if (!open) continue;
    const indent = open[1] ?? '';
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && (lines[j] ?? '').trim() !== '```'; j++) {
      body.push(
        (lines[j] ?? '').startsWith(indent) ? (lines[j] ?? '').slice(indent.length) : (lines[j] ?? ''),
      );
    }
    if (j === lines.length) throw new Error(`${readme}:${i + 1}: unclosed code block`);
    let file = join(root, '.readme-snippets', `${readme.replaceAll('/', '_')}_${i + 1}.mts`);
    const declarations: string[] = [];
    for (let k = i - 1; k >= 0; k--) {
      const marker = MARKER.exec(lines[k] ?? '');
      if (!marker) break;
      if (marker[1] === 'file') file = join(root, marker[2] ?? '');
      else declarations.push(`declare ${marker[2]}`);
    }
    snippets.push({
      readme,
      line: i + 2,
      code: [...body, ...declarations].join('\n'),
      file,
      codeLines: body.length,
    });
    i = j;
  }
  return snippets;
}

function readmes(): string[] {
  const found = ['README.md'];
  for (const dir of ['packages', 'examples']) {
    for (const name of readdirSync(join(root, dir))) {
      if (existsSync(join(root, dir, name, 'README.md'))) found.push(`${dir}/${name}/README.md`);
    }
  }
  return found;
}

/** The options a user's strict nodenext project would have. */
const options: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  moduleDetection: ts.ModuleDetectionKind.Force,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  strict: true,
  noEmit: true,
  // As most projects set it; it keeps this test near 10 s (the built types also pass without it, at 3x the time).
  skipLibCheck: true,
};

/** Compiles the snippets in one program; returns the errors as `README:line: message`. */
function compileSnippets(snippets: Snippet[]): { errors: string[]; program: ts.Program } {
  const byFile = new Map(snippets.map((s) => [s.file, s]));
  if (byFile.size !== snippets.length) throw new Error('two snippets compile as the same file');
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => byFile.has(name) || fileExists.call(host, name);
  host.readFile = (name) => byFile.get(name)?.code ?? readFile.call(host, name);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    const snippet = byFile.get(name);
    if (snippet) return ts.createSourceFile(name, snippet.code, languageVersion, true);
    return getSourceFile.call(host, name, languageVersion, onError, shouldCreate);
  };
  const program = ts.createProgram([...byFile.keys()], options, host);
  const errors = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const file = diagnostic.file;
    const snippet = file && byFile.get(file.fileName);
    if (!file || diagnostic.start === undefined) return `(no file): ${message}`;
    const { line } = file.getLineAndCharacterOfPosition(diagnostic.start);
    if (!snippet) return `${relative(root, file.fileName)}:${line + 1}: ${message}`;
    // Lines past the block are the marker's declarations: point at the marker above the fence.
    const at = line < snippet.codeLines ? snippet.line + line : snippet.line - 2;
    return `${snippet.readme}:${at}: ${message}`;
  });
  return { errors, program };
}

describe('README code blocks', () => {
  const snippets = readmes().flatMap((readme) =>
    extractSnippets(readme, readFileSync(join(root, readme), 'utf8')),
  );

  it('finds the blocks of every README', () => {
    expect(snippets.length).toBeGreaterThan(10);
    expect(new Set(snippets.map((s) => s.readme))).toEqual(
      new Set(readmes().filter((r) => readFileSync(join(root, r), 'utf8').includes('```ts'))),
    );
  });

  it('compile under module nodenext and strict against the built packages', () => {
    for (const name of readdirSync(join(root, 'packages'))) {
      expect(
        existsSync(join(root, 'packages', name, 'dist', 'index.d.ts')),
        'run `npm run build` first',
      ).toBe(true);
    }
    const { errors, program } = compileSnippets(snippets);
    expect(errors).toEqual([]);
    // The way an installed user sees them: the built types, not the TypeScript sources.
    const weft = program.getSourceFiles().map((f) => relative(root, f.fileName));
    expect(weft.filter((f) => /^packages\/[^/]+\/src\//.test(f))).toEqual([]);
    expect(weft).toEqual(expect.arrayContaining(['packages/auth/dist/index.d.ts']));
  }, 120_000);

  it('blocks marked `snippet file:` show that file as it is', () => {
    for (const s of snippets.filter((s) => !s.file.startsWith(join(root, '.readme-snippets')))) {
      expect(existsSync(s.file), `${s.readme}:${s.line}: ${relative(root, s.file)}`).toBe(true);
      expect(s.code.trim(), `${s.readme}:${s.line}`).toBe(readFileSync(s.file, 'utf8').trim());
    }
  });

  it('the root README server block starts serving: it binds the server it builds', () => {
    const servers = snippets.filter((s) => s.readme === 'README.md' && s.code.includes('new grpc.Server('));
    expect(servers.length).toBeGreaterThan(0);
    for (const s of servers) expect(s.code, `README.md:${s.line}`).toMatch(/\bserver\.bindAsync\(/);
  });

  it("the root README's Install section names every package and each peer dependency", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const install = /^## Install\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
    expect(install, 'README.md has an "## Install" section').not.toBe('');
    for (const name of readdirSync(join(root, 'packages'))) {
      const pkg = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8')) as {
        name: string;
        peerDependencies?: Record<string, string>;
      };
      expect(install).toContain(`\`${pkg.name}\``);
      for (const peer of Object.keys(pkg.peerDependencies ?? {})) expect(install).toContain(`\`${peer}\``);
    }
  });

  it('reports an error in a block at its README line', () => {
    const [broken] = extractSnippets(
      'EXAMPLE.md',
      [
        '# x',
        '',
        '<!-- snippet declare: const n: number; -->',
        '```ts',
        "const s: string = 'a';",
        'const t: string = n;',
        '```',
      ].join('\n'),
    );
    expect(broken).toBeDefined();
    const { errors } = compileSnippets(broken ? [broken] : []);
    expect(errors).toEqual([
      expect.stringMatching(/^EXAMPLE\.md:6: Type 'number' is not assignable to type 'string'/),
    ]);
  }, 60_000);
});
