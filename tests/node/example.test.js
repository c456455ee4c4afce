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

test('errors are reported on stderr with exit status 1', () => {
  const r = spawnSync(process.execPath, [CLI, 'query', '--db', path.join(scratch, 'new.db'), 'anything'], { env, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^search\.js: .*new\.db is a new index: give the model file \(--model\)\n$/);
  const bad = spawnSync(process.execPath, [CLI, 'index', '--db', path.join(scratch, 'bad.db'), '--model', CLI], { env, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^search\.js: embed_models: gguf: .*search\.js: .*not a GGUF file\n$/);
});
