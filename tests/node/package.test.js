'use strict';
// The npm package at the repository root (package.json, index.js, index.d.ts,
// tools/npm-install.js): require('sqlite-embed') works like sqlite-vec's
// loader, the install script is idempotent and fails with a message naming
// what is missing, and the packed file list holds what the build needs.
//
// The last test packs the repository, installs the tarball into a scratch
// project (a full CMake build of the extension there, ~5 s on 2 idle cores:
// what an install from a git URL does) and loads the result;
// SQLITE_EMBED_TEST_PACKED_INSTALL=0 skips it.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const Database = require('better-sqlite3');
const { REPO, BUILD_DIR, tinyModel, miniLM } = require('./helpers');

const INSTALL_SCRIPT = path.join(REPO, 'tools', 'npm-install.js');
const REPO_EXTENSION = path.join(REPO, 'build', 'embed.so');

function scratchDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-embed-pkg-'));
}

function runNode(args, opts = {}) {
  return spawnSync(process.execPath, args, { encoding: 'utf8', ...opts });
}

test('require(<repo>) exposes getLoadablePath, load and entryPoint', () => {
  const sqliteEmbed = require(REPO);
  assert.deepEqual(Object.keys(sqliteEmbed).sort(), ['entryPoint', 'getLoadablePath', 'load']);
  assert.equal(sqliteEmbed.entryPoint, 'sqlite3_embed_init');
  const types = fs.readFileSync(path.join(REPO, 'index.d.ts'), 'utf8');
  for (const name of ['getLoadablePath(): string', 'load(db: Db): void', 'entryPoint: string'])
    assert.ok(types.includes(name), `index.d.ts lacks ${name}`);
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'sqlite-embed');
  assert.equal(pkg.main, 'index.js');
  assert.equal(pkg.types, 'index.d.ts');
  assert.equal(pkg.scripts.install, 'node tools/npm-install.js');
});

test('load(db) loads the repository build into better-sqlite3', (t) => {
  if (!fs.existsSync(REPO_EXTENSION) && BUILD_DIR !== path.dirname(REPO_EXTENSION))
    return t.skip(`the package loads ${REPO_EXTENSION}; this run builds into ${BUILD_DIR}`);
  const sqliteEmbed = require(REPO);
  assert.equal(sqliteEmbed.getLoadablePath(), REPO_EXTENSION);
  const db = new Database(':memory:');
  sqliteEmbed.load(db);
  assert.match(db.prepare('SELECT embed_version() AS v').get().v, /^v\d/);
  const name = 'pkg-test-bert';
  if (!db.prepare('SELECT 1 FROM embed_models WHERE name = ?').get(name))
    db.prepare('INSERT INTO embed_models(name, path) VALUES (?, ?)').run(name, tinyModel('tiny-bert-F16.gguf'));
  assert.equal(db.prepare('SELECT length(embed(?, ?)) AS n').get(name, 'hello').n, 256 * 4);
  db.close();
});

test('getLoadablePath() names the missing file and how to build it', () => {
  const dir = scratchDir();
  fs.copyFileSync(path.join(REPO, 'index.js'), path.join(dir, 'index.js'));
  const r = runNode(['-e', `require(${JSON.stringify(dir)}).getLoadablePath()`]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /sqlite-embed: the extension .*build\/embed\.so is not built\. Run `npm rebuild sqlite-embed`/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the install script does nothing when build/embed.so is up to date', (t) => {
  if (!fs.existsSync(REPO_EXTENSION)) return t.skip(`${REPO_EXTENSION} is not built`);
  // The same rule the script applies, so that the test never starts a build.
  const newest = (p) => {
    const st = fs.statSync(p);
    return st.isDirectory() ? Math.max(0, ...fs.readdirSync(p).map((n) => newest(path.join(p, n)))) : st.mtimeMs;
  };
  const stamp = path.join(REPO, 'build', '.npm-install.stamp');
  const built = Math.max(fs.statSync(REPO_EXTENSION).mtimeMs, fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0);
  if (['CMakeLists.txt', 'cmake', 'src', 'ext'].some((p) => newest(path.join(REPO, p)) > built))
    return t.skip('sources are newer than build/embed.so (rebuild with cmake first)');
  const before = fs.statSync(REPO_EXTENSION).mtimeMs;
  const r = runNode([INSTALL_SCRIPT], { env: { ...process.env, PATH: '/nonexistent' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'sqlite-embed: build/embed.so is up to date\n');
  assert.equal(fs.statSync(REPO_EXTENSION).mtimeMs, before);
});

// A scratch package root with the install script and a CMakeLists.txt newer
// than any build, plus a bin/ directory for fake tools.
function stalePackage() {
  const dir = scratchDir();
  fs.mkdirSync(path.join(dir, 'tools'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(INSTALL_SCRIPT, path.join(dir, 'tools', 'npm-install.js'));
  fs.writeFileSync(path.join(dir, 'CMakeLists.txt'), 'project(x C)\n');
  return dir;
}

test('the install script fails clearly without cmake', () => {
  const dir = stalePackage();
  const r = runNode([path.join(dir, 'tools', 'npm-install.js')], { env: { ...process.env, PATH: path.join(dir, 'bin') } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^sqlite-embed: cmake not found on PATH\n/);
  assert.match(r.stderr, /apt-get install cmake build-essential pkg-config libsqlite3-dev libopenblas-dev/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the install script names OpenBLAS when CMake cannot find it', () => {
  const dir = stalePackage();
  // a cmake that configures like the real one on a machine without OpenBLAS
  fs.writeFileSync(path.join(dir, 'bin', 'cmake'), [
    '#!/bin/sh',
    'if [ "$1" = --version ]; then echo "cmake version 3.25.1"; exit 0; fi',
    'echo "-- Could NOT find BLAS (missing: BLAS_LIBRARIES)"',
    'echo "CMake Error at CMakeLists.txt:52 (find_package): BLAS REQUIRED" >&2',
    'exit 1', ''].join('\n'), { mode: 0o755 });
  const r = runNode([path.join(dir, 'tools', 'npm-install.js')],
    { env: { ...process.env, PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin` } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /sqlite-embed: CMake did not find OpenBLAS \(library and cblas\.h\)/);
  assert.match(r.stderr, /libopenblas-dev/);
  assert.ok(!fs.existsSync(path.join(dir, 'build', 'embed.so')));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the packed package holds the build inputs and nothing else', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = JSON.parse(r.stdout)[0].files.map((f) => f.path);
  for (const f of ['package.json', 'index.js', 'index.d.ts', 'tools/npm-install.js', 'CMakeLists.txt',
    'cmake/build_info.h.in', 'ext/embed_ext.c', 'ext/embed.map', 'src/embed.c', 'src/forward.c',
    'LICENSE', 'THIRD_PARTY.md'])
    assert.ok(files.includes(f), `${f} is not in the package`);
  const stray = files.filter((f) => /^(tests|build|models|examples|bench|fuzz)\//.test(f) || f.endsWith('.gguf'));
  assert.deepEqual(stray, []);
});

test('npm install of the packed package builds the extension and loads it', { timeout: 600_000 }, (t) => {
  if (process.env.SQLITE_EMBED_TEST_PACKED_INSTALL === '0') return t.skip('SQLITE_EMBED_TEST_PACKED_INSTALL=0');
  const dir = scratchDir();
  const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--ignore-scripts'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const tarball = path.join(dir, pack.stdout.trim().split('\n').pop());
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  const started = Date.now();
  const inst = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball],
    { cwd: dir, encoding: 'utf8' });
  assert.equal(inst.status, 0, `${inst.stdout}\n${inst.stderr}`);
  t.diagnostic(`npm install of the tarball (CMake build included): ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const installed = path.join(dir, 'node_modules', 'sqlite-embed');
  const sqliteEmbed = require(installed);
  assert.equal(sqliteEmbed.getLoadablePath(), path.join(installed, 'build', 'embed.so'));
  const db = new Database(':memory:');
  sqliteEmbed.load(db);
  assert.match(db.prepare('SELECT embed_version() AS v').get().v, /^v\d/);
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the five lines of docs/node.md run as written', () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'node.md'), 'utf8');
  const snippet = /## The five lines\n\n```js\n([\s\S]*?)```/.exec(doc);
  assert.ok(snippet, 'docs/node.md has no "The five lines" code block');
  const lines = snippet[1].trim().split('\n');
  assert.equal(lines.length, 5);
  // run them in a scratch directory where models/ holds MiniLM and
  // require('sqlite-embed') is the repository
  const dir = scratchDir();
  fs.mkdirSync(path.join(dir, 'models'));
  fs.symlinkSync(miniLM(), path.join(dir, 'models', 'all-MiniLM-L6-v2.f16.gguf'));
  fs.mkdirSync(path.join(dir, 'modules'));
  fs.symlinkSync(REPO, path.join(dir, 'modules', 'sqlite-embed'), 'dir');
  const program = `${snippet[1]}\nprocess.stdout.write(JSON.stringify({ bytes: blob.length, dims: vector.length, first: vector[0] }));`;
  const r = runNode(['-e', program], {
    cwd: dir,
    env: { ...process.env, NODE_PATH: [path.join(dir, 'modules'), path.join(__dirname, 'node_modules')].join(path.delimiter) },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual([out.bytes, out.dims], [384 * 4, 384]);
  assert.ok(Number.isFinite(out.first) && out.first !== 0);
  fs.rmSync(dir, { recursive: true, force: true });
});
