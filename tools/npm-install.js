#!/usr/bin/env node
'use strict';
// The npm install script of the sqlite-embed package: builds the loadable
// extension build/embed.so from source with CMake. Nothing is downloaded.
//
//   node tools/npm-install.js        (npm runs it on install / npm rebuild)
//
// Idempotent: returns at once when build/embed.so is newer than every build
// input (CMakeLists.txt, cmake/, src/, ext/). Otherwise:
//   - build/ already configured (a developer's checkout): build only the
//     `embed` target there, keeping that configuration;
//   - else configure build/ first, like the README's
//     `cmake -S . -B build`, but with -DEMBED_TESTS=OFF when the C tests or
//     cmocka are not there (the npm package ships without tests/).
// Environment:
//   SQLITE_EMBED_SKIP_BUILD=1      do nothing (e.g. CI that builds with CMake itself)
//   SQLITE_EMBED_CMAKE_ARGS="..."  extra configure arguments (space-separated),
//                                  e.g. "-DCMAKE_C_COMPILER=clang"
// Fails (exit 1) with a message naming what is missing: cmake, a compiler,
// sqlite3ext.h (libsqlite3-dev), OpenBLAS (libopenblas-dev).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const BUILD = path.join(ROOT, 'build');
const OUTPUT = path.join(BUILD, process.platform === 'win32' ? 'embed.dll' : 'embed.so');
// Written after each successful build: cmake --build may leave embed.so
// untouched when a changed input does not affect it.
const STAMP = path.join(BUILD, '.npm-install.stamp');
const INPUTS = ['CMakeLists.txt', 'cmake', 'src', 'ext'];

const DEPENDENCIES_HINT = [
  'sqlite-embed builds from source and needs:',
  '  cmake >= 3.18, a C11 compiler (gcc or clang), pkg-config,',
  '  the SQLite extension header sqlite3ext.h, and OpenBLAS with cblas.h.',
  '  Debian/Ubuntu: sudo apt-get install cmake build-essential pkg-config libsqlite3-dev libopenblas-dev',
  '  Fedora:        sudo dnf install cmake gcc pkgconf sqlite-devel openblas-devel',
].join('\n');

function log(msg) {
  process.stdout.write(`sqlite-embed: ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`sqlite-embed: ${msg}\n\n${DEPENDENCIES_HINT}\n`);
  process.exit(1);
}

// Newest modification time (ms) of the files under `p`, 0 if none.
function newestMtime(p) {
  let st;
  try { st = fs.statSync(p); } catch { return 0; }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const name of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, name)));
  return newest;
}

function builtAt() {
  if (!fs.existsSync(OUTPUT)) return 0;
  return Math.max(fs.statSync(OUTPUT).mtimeMs, fs.existsSync(STAMP) ? fs.statSync(STAMP).mtimeMs : 0);
}

function isUpToDate() {
  const built = builtAt();
  return built > 0 && INPUTS.every((p) => newestMtime(path.join(ROOT, p)) <= built);
}

// Runs a command with inherited output; returns true on exit status 0.
function run(cmd, args, { capture = false } = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: capture ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (r.error) {
    if (r.error.code === 'ENOENT') fail(`${cmd} not found on PATH`);
    fail(`cannot run ${cmd}: ${r.error.message}`);
  }
  return capture ? r : r.status === 0;
}

function cmockaAvailable() {
  const r = spawnSync('pkg-config', ['--exists', 'cmocka'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function configure() {
  const args = ['-S', ROOT, '-B', BUILD];
  if (!fs.existsSync(path.join(ROOT, 'tests', 'unit'))) {
    args.push('-DEMBED_TESTS=OFF');
  } else if (!cmockaAvailable()) {
    args.push('-DEMBED_TESTS=OFF');
    log('cmocka not found: configuring build/ with -DEMBED_TESTS=OFF '
      + '(reconfigure with -DEMBED_TESTS=ON for the C tests)');
  }
  const extra = (process.env.SQLITE_EMBED_CMAKE_ARGS || '').split(/\s+/).filter(Boolean);
  args.push(...extra);
  log(`cmake ${args.join(' ')}`);
  const r = run('cmake', args, { capture: true });
  process.stdout.write(r.stdout || '');
  if (r.status !== 0) {
    process.stderr.write(r.stderr || '');
    const out = `${r.stdout}\n${r.stderr}`;
    if (/BLAS|cblas\.h|openblas/i.test(out)) fail('CMake did not find OpenBLAS (library and cblas.h)');
    if (/SQLITE3EXT_INCLUDE|sqlite3ext\.h/.test(out)) fail('CMake did not find sqlite3ext.h (SQLite development files)');
    if (/CMAKE_C_COMPILER|No CMAKE_C_COMPILER/.test(out)) fail('CMake did not find a C compiler');
    fail('CMake could not configure the build (output above)');
  }
}

function main() {
  if (process.env.SQLITE_EMBED_SKIP_BUILD === '1') {
    log('SQLITE_EMBED_SKIP_BUILD=1: not building');
    return;
  }
  if (process.platform === 'win32') fail('building on Windows is not supported; use Linux or macOS (or WSL)');
  if (isUpToDate()) {
    log(`${path.relative(ROOT, OUTPUT)} is up to date`);
    return;
  }
  const version = run('cmake', ['--version'], { capture: true });
  if (version.status !== 0) fail('cmake --version failed');
  if (!fs.existsSync(path.join(BUILD, 'CMakeCache.txt'))) configure();
  const jobs = String(Math.max(1, Math.min(os.availableParallelism ? os.availableParallelism() : os.cpus().length, 8)));
  log(`cmake --build build --target embed -j${jobs}`);
  if (!run('cmake', ['--build', BUILD, '--target', 'embed', '-j', jobs])) fail('the build failed (output above)');
  if (!fs.existsSync(OUTPUT)) fail(`the build finished but ${OUTPUT} is missing`);
  fs.writeFileSync(STAMP, `${new Date().toISOString()}\n`);
  log(`built ${OUTPUT}`);
}

main();
