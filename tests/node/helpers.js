'use strict';
// Shared paths and set-up for the Node tests.
//
// EMBED_BUILD_DIR (tests/run.sh sets it) is the CMake build directory holding
// embed.so and, after ctest's gen_models fixture, fixtures/models/*.gguf.
// Default: <repo>/build. Model files that the C suite does not make are made
// here once and cached:
//   all-MiniLM-L6-v2.f16.gguf  models/ (tools/prepare_minilm.sh), else the
//                              ctest fixture copy in $EMBED_BUILD_DIR/fixtures/models
//   nomic-full-F16.gguf        $EMBED_BUILD_DIR/fixtures/nomic-full/ (gen_models.py
//                              --full-nomic; its own directory so that the
//                              stamp of the tiny-model fixtures stays valid)

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const Database = require('better-sqlite3');
const sqliteVec = require('sqlite-vec');

const REPO = path.resolve(__dirname, '..', '..');
const BUILD_DIR = path.resolve(process.env.EMBED_BUILD_DIR || path.join(REPO, 'build'));
const EXTENSION = path.join(BUILD_DIR, process.platform === 'win32' ? 'embed.dll' : 'embed.so');
const TINY_MODELS = path.join(BUILD_DIR, 'fixtures', 'models');
const NOMIC_FULL_DIR = path.join(BUILD_DIR, 'fixtures', 'nomic-full');
const MINILM_NAME = 'all-MiniLM-L6-v2.f16.gguf';

function requireFile(file, hint) {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist: ${hint}`);
  return file;
}

function extensionPath() {
  return requireFile(EXTENSION, 'build the extension first (cmake -S . -B build && cmake --build build --target embed)');
}

function tinyModel(name) {
  return requireFile(path.join(TINY_MODELS, name),
    'run ctest once (its gen_models fixture writes the tiny models) or tests/python/gen_models.py --out ' + TINY_MODELS);
}

// The real all-MiniLM-L6-v2 (F16). Made by tools/prepare_minilm.sh when no
// copy exists yet.
function miniLM() {
  const candidates = [path.join(REPO, 'models', MINILM_NAME), path.join(TINY_MODELS, MINILM_NAME)];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  const script = path.join(REPO, 'tools', 'prepare_minilm.sh');
  requireFile(script, `no ${MINILM_NAME} in ${candidates.join(' or ')}`);
  execFileSync('bash', [script], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  return requireFile(candidates[0], `tools/prepare_minilm.sh did not write ${candidates[0]}`);
}

// The full-size nomic-geometry model (768 wide, 12 layers, F16, ~274 MB).
// Generated once (~15 s) and cached; --if-stale makes the generator return at
// once when the file and its stamp are current.
function nomicFull() {
  const file = path.join(NOMIC_FULL_DIR, 'nomic-full-F16.gguf');
  fs.mkdirSync(NOMIC_FULL_DIR, { recursive: true });
  execFileSync('python3', [path.join(REPO, 'tests', 'python', 'gen_models.py'), '--out', NOMIC_FULL_DIR,
    '--full-nomic', '--only', 'nomic-full-F16', '--if-stale', '-q', '-j', '1'],
  { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  return requireFile(file, 'gen_models.py --full-nomic did not write it');
}

// A better-sqlite3 connection with sqlite-embed (and sqlite-vec) loaded.
function openDb({ vec = true, file = ':memory:' } = {}) {
  const db = new Database(file);
  db.loadExtension(extensionPath(), 'sqlite3_embed_init');
  if (vec) sqliteVec.load(db);
  return db;
}

// Registers `name` -> `file` unless the process-wide registry already has it
// (the registry outlives connections; names must be unique).
function registerModel(db, name, file) {
  const row = db.prepare('SELECT path FROM embed_models WHERE name = ?').get(name);
  if (row) {
    if (row.path !== file) throw new Error(`model ${name} is registered with ${row.path}, wanted ${file}`);
    return;
  }
  db.prepare('INSERT INTO embed_models(name, path) VALUES (?, ?)').run(name, file);
}

// Float32Array over a BLOB from better-sqlite3 (copied when the Buffer's
// offset is not 4-byte aligned, which a Float32Array view requires).
function toFloat32(buf) {
  if (!Buffer.isBuffer(buf)) throw new TypeError(`expected a Buffer, got ${typeof buf}`);
  if (buf.byteLength % 4 !== 0) throw new RangeError(`BLOB of ${buf.byteLength} bytes is not float32`);
  if (buf.byteOffset % 4 === 0) return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return new Float32Array(new Uint8Array(buf).buffer);
}

// /proc/self/status and /proc/self/smaps_rollup figures in bytes (Linux).
function procMemory() {
  const out = {};
  const grab = (file, keys) => {
    let text;
    try { text = fs.readFileSync(file, 'utf8'); } catch { return; }
    for (const line of text.split('\n')) {
      const m = /^(\w+):\s+(\d+) kB/.exec(line);
      if (m && keys.includes(m[1])) out[m[1]] = Number(m[2]) * 1024;
    }
  };
  grab('/proc/self/status', ['VmRSS', 'RssAnon', 'RssFile', 'RssShmem']);
  grab('/proc/self/smaps_rollup', ['Private_Clean', 'Private_Dirty', 'Shared_Clean', 'Anonymous']);
  return out;
}

const MiB = 1024 * 1024;

module.exports = {
  REPO, BUILD_DIR, TINY_MODELS, MiB,
  extensionPath, tinyModel, miniLM, nomicFull, openDb, registerModel, toFloat32, procMemory,
};
