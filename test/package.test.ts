import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/project.ts';

const run = promisify(execFile);

describe('the npm package', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-pack-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('packs compiled JavaScript that installs and runs on Node 24 outside the repository', async () => {
    // npm pack runs the prepare build (tsc to dist/): Node does not strip types under node_modules.
    const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: repoRoot, maxBuffer: 10_000_000 });
    const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path);
    assert.ok(files.includes('dist/cli/main.js'));
    assert.ok(files.includes('examples/app/server.js'), 'the demo app ships');
    assert.ok(files.includes('dist/dashboard/public/index.html') && files.includes('dist/dashboard/public/assets/main.js'), 'the dashboard ships');
    assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no TypeScript sources or tests in the package');

    const project = path.join(dir, 'app');
    await run('mkdir', ['-p', project]);
    writeFileSync(path.join(project, 'package.json'), '{ "name": "app", "version": "1.0.0", "private": true }');
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, info!.filename)], { cwd: project, maxBuffer: 10_000_000 });
    // The installed CLI runs with whatever Node 24 is first on PATH (here: the one running this test).
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };
    const version = await run(path.join(project, 'node_modules', '.bin', 'zdd'), ['--version'], { cwd: project, env });
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const help = await run(path.join(project, 'node_modules', '.bin', 'zdd'), ['deploy', '--help'], { cwd: project, env });
    assert.match(help.stdout, /--env <KEY=VALUE>/);
  });
});
