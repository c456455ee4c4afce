'use strict';
// examples/node-semantic-search, run as a user runs it (its command line, in
// a child process) on the bundled public-domain corpus with the real MiniLM.
// The example's dependencies resolve through NODE_PATH: this directory's
// node_modules (better-sqlite3, sqlite-vec) and a scratch directory where
// `sqlite-embed` links to the repository root (what `npm install` in the
// example does with its "file:../.." dependency).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { REPO, miniLM } = require('./helpers');

const EXAMPLE = path.join(REPO, 'examples', 'node-semantic-search');
const CLI = path.join(EXAMPLE, 'search.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-embed-example-'));
fs.mkdirSync(path.join(scratch, 'modules'));
fs.symlinkSync(REPO, path.join(scratch, 'modules', 'sqlite-embed'), 'dir');
const env = {
  ...process.env,
  NODE_PATH: [path.join(scratch, 'modules'), path.join(__dirname, 'node_modules')].join(path.delimiter),
};
delete env.SQLITE_EMBED_MODEL;
const DB = path.join(scratch, 'search.db');

const cli = (...args) => execFileSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });
const query = (text, k = 3, db = DB) => JSON.parse(cli('query', '--db', db, '--k', String(k), '--json', text));

// Queries that share (almost) no words with their passage. Measured with
// MiniLM F16, the runner-up is at least 0.1 lower in cosine similarity.
const EXPECTED = [
  ['a young girl bored by a book without pictures', 'alice-in-wonderland.txt'],
  ['military strategy and misleading the enemy', 'art-of-war.txt'],
  ['a rich bachelor looking for a wife', 'pride-and-prejudice.txt'],
  ['a hungry animal cannot reach the fruit', 'aesop-fox-and-grapes.txt'],
  ['creation of the world and light', 'genesis.txt'],
  ['a detective and a remarkable woman', 'a-scandal-in-bohemia.txt'],
  ['hidden pirate treasure', 'treasure-island.txt'],
  ['comparing a lover to summer', 'sonnet-18.txt'],
];

test.after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('index the bundled corpus, then answer queries by meaning', () => {
  const out = cli('index', '--db', DB, '--model', miniLM());
  assert.match(out, /^indexed 20 passages from 18 files of .*corpus into .*search\.db in \d+ ms\n$/);
  for (const [text, file] of EXPECTED) {
    const hits = query(text);
    assert.equal(hits.length, 3);
    assert.equal(hits[0].file, file, `"${text}": got ${hits.map((h) => `${h.file} ${h.similarity.toFixed(3)}`).join(', ')}`);
    assert.ok(hits[0].similarity - hits[1].similarity > 0.05, `"${text}": no clear winner`);
    assert.ok(hits.every((h, i) => i === 0 || h.similarity <= hits[i - 1].similarity), 'not ranked');
  }
  // the human-readable form
  const text = cli('query', '--db', DB, 'whaling voyage');
  assert.match(text, /^1\. 0\.\d{3} {2}moby-dick\.txt#1\n {3}Call me Ishmael\./);
});

test('re-indexing replaces passages instead of duplicating them', () => {
  cli('index', '--db', DB);
  const hits = query('creation of the world and light', 20);
  assert.equal(hits.length, 20);
  assert.equal(new Set(hits.map((h) => `${h.file}#${h.para}`)).size, 20);
});

test('a folder of the user\'s own files, edited and indexed again', () => {
  const folder = path.join(scratch, 'notes');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'garden.txt'), 'Tomatoes need full sun and regular watering.\n\nPrune the roses in early spring.\n');
  fs.writeFileSync(path.join(folder, 'car.txt'), 'Change the engine oil every ten thousand kilometres.\n');
  fs.writeFileSync(path.join(folder, 'ignored.md'), 'Not a .txt file.\n');
  const db = path.join(scratch, 'notes.db');
  assert.match(cli('index', folder, '--db', db, '--model', miniLM()), /^indexed 3 passages from 2 files/);
  assert.deepEqual(query('when should I cut back my flowers?', 1, db).map((h) => [h.file, h.para]), [['garden.txt', 2]]);
  assert.equal(query('car maintenance', 1, db)[0].file, 'car.txt');

  fs.writeFileSync(path.join(folder, 'car.txt'), 'Check the tyre pressure once a month.\n');
  assert.match(cli('index', folder, '--db', db), /^indexed 3 passages from 2 files/);
  const car = query('inflating the wheels', 3, db).find((h) => h.file === 'car.txt');
  assert.equal(car.body, 'Check the tyre pressure once a month.');
});

test('index --progress: done/total, rate and ETA on stderr, the last line complete', () => {
  const db = path.join(scratch, 'progress.db');
  const r = spawnSync(process.execPath, [CLI, 'index', '--db', db, '--model', miniLM(), '--progress'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^indexed 20 passages from 18 files/);
  const lines = r.stderr.trimEnd().split('\n');
  const parsed = lines.map((l) => /^(\d+)\/20 passages {2}(\d+\.\d)\/s {2}ETA (\d+:\d\d|\?)$/.exec(l));
  assert.ok(parsed.every(Boolean), r.stderr);
  const done = parsed.map((m) => Number(m[1]));
  assert.ok(done.every((d, i) => i === 0 || d > done[i - 1]), 'progress goes forward');
  assert.equal(done.at(-1), 20);
  assert.equal(parsed.at(-1)[3], '0:00');
  assert.ok(Number(parsed.at(-1)[2]) > 0);
});

// lib.js in a child process (its require()s resolve through NODE_PATH).
function runLib(program) {
  const r = spawnSync(process.execPath, ['-e', `const lib = require(${JSON.stringify(path.join(EXAMPLE, 'lib.js'))});\n${program}`],
    { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('progressMeter: rate and ETA from the clock', () => {
  const events = runLib(`
    const times = [0, 500, 1000, 4000];
    const events = [];
    const meter = lib.progressMeter(3, (e) => events.push(e), () => times.shift());
    meter.tick(); meter.tick(); meter.tick();
    process.stdout.write(JSON.stringify(events));`);
  assert.deepEqual(events, [
    { done: 1, total: 3, rate: 2, etaSeconds: 1 },
    { done: 2, total: 3, rate: 2, etaSeconds: 0.5 },
    { done: 3, total: 3, rate: 0.75, etaSeconds: 0 },
  ]);
});

test('indexFolder through embed_batch: slices of the bulk path, a progress event per passage', () => {
  const folder = path.join(scratch, 'many');
  fs.mkdirSync(folder);
  // 700 passages: two embed_batch slices (512 + 188)
  const topics = ['the harbour at dawn', 'a recipe for lentil soup', 'repairing a bicycle chain', 'the orbit of Mars'];
  for (let f = 0; f < 7; f++) {
    const paras = [];
    for (let p = 0; p < 100; p++) paras.push(`Note ${f}-${p} is about ${topics[(f + p) % 4]}.`);
    fs.writeFileSync(path.join(folder, `notes-${f}.txt`), paras.join('\n\n'));
  }
  const db = path.join(scratch, 'many.db');
  const out = runLib(`
    const db = lib.openIndex(${JSON.stringify(db)}, { model: ${JSON.stringify(miniLM())} });
    const events = [];
    const r = lib.indexFolder(db, ${JSON.stringify(folder)}, { onProgress: (e) => events.push(e) });
    const stored = db.prepare('SELECT count(*) AS n FROM passages_vec').get().n;
    const missing = db.prepare('SELECT count(*) AS n FROM passages p WHERE NOT EXISTS (SELECT 1 FROM passages_vec v WHERE v.rowid = p.id)').get().n;
    const hit = lib.search(db, 'fixing my bike', 1)[0];
    process.stdout.write(JSON.stringify({ r, events, stored, missing, hit }));`);
  assert.equal(out.r.passages, 700);
  assert.equal(out.stored, 700);
  assert.equal(out.missing, 0);
  assert.deepEqual(out.events.map((e) => e.done), Array.from({ length: 700 }, (_, i) => i + 1));
  assert.ok(out.events.every((e) => e.total === 700 && e.rate > 0 && e.etaSeconds >= 0));
  assert.equal(out.events.at(-1).etaSeconds, 0);
  assert.match(out.hit.body, /repairing a bicycle chain/);
  // each passage's vector is embed() of its body, to float rounding (the
  // bulk path multiplies several texts per call: other summation orders)
  const diffs = runLib(`
    const db = lib.openIndex(${JSON.stringify(db)});
    const rows = db.prepare("SELECT p.body, v.embedding AS e FROM passages p JOIN passages_vec v ON v.rowid = p.id WHERE p.id IN (1, 300, 513, 700)").all();
    const f32 = (b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    process.stdout.write(JSON.stringify(rows.map((r) => {
      const a = f32(r.e), b = f32(db.prepare("SELECT embed('search', ?) AS v").get(r.body).v);
      return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
    })));`);
  assert.equal(diffs.length, 4);
  assert.ok(diffs.every((d) => d < 1e-5), JSON.stringify(diffs));
});

test('errors are reported on stderr with exit status 1', () => {
  const r = spawnSync(process.execPath, [CLI, 'query', '--db', path.join(scratch, 'new.db'), 'anything'], { env, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^search\.js: .*new\.db is a new index: give the model file \(--model\)\n$/);
  const bad = spawnSync(process.execPath, [CLI, 'index', '--db', path.join(scratch, 'bad.db'), '--model', CLI], { env, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^search\.js: embed_models: gguf: .*search\.js: .*not a GGUF file\n$/);
});
