'use strict';
// Process events around a running embed(): a worker terminated in the
// middle of a long embed, and a process that exits while workers embed. The
// host must neither crash nor hang; the main thread keeps working.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { extensionPath, openDb, registerModel, miniLM } = require('./helpers');

const WORKER = path.join(__dirname, 'embed-worker.js');
const LONG = 'Terminating a worker in the middle of an embedding must be harmless. '.repeat(40);

test('worker.terminate() in the middle of long embeds: the main thread embeds on, bit for bit', { timeout: 300_000 }, async () => {
  const db = openDb({ vec: false });
  registerModel(db, 'minilm', miniLM());
  const embed = (t) => db.prepare("SELECT embed('minilm', ?) AS v").get(t).v;
  const before = embed(LONG);
  for (let round = 0; round < 5; round++) {
    const w = new Worker(WORKER, { workerData: { extension: extensionPath(), mode: 'until-error', model: 'minilm', text: LONG } });
    await new Promise((resolve, reject) => {
      w.on('message', (m) => { if (m.started) setTimeout(resolve, 30 + 20 * round); });
      w.on('error', reject);
    });
    const code = await w.terminate();
    assert.equal(code, 1); // terminated, not crashed
  }
  assert.ok(embed(LONG).equals(before));
  db.close();
});

// A child process starts workers that embed in a loop and exits while they
// do (process.exit runs the extension's destructors with calls in flight).
const EXIT_SCRIPT = `
const { Worker } = require('node:worker_threads');
const [ext, model, worker, text] = process.argv.slice(1);
const Database = require('better-sqlite3');
const db = new Database(':memory:');
db.loadExtension(ext, 'sqlite3_embed_init');
db.prepare("INSERT INTO embed_models(name, path) VALUES ('minilm', ?)").run(model);
let started = 0;
for (let i = 0; i < 3; i++) {
  const w = new Worker(worker, { workerData: { extension: ext, mode: 'until-error', model: 'minilm', text } });
  w.on('message', (m) => { if (m.started && ++started === 3) setTimeout(() => process.exit(0), 50); });
}
`;

test('process.exit() while three workers embed: exit code 0, no crash, no hang', { timeout: 300_000 }, () => {
  for (let round = 0; round < 5; round++) {
    const r = spawnSync(process.execPath, ['-e', EXIT_SCRIPT, extensionPath(), miniLM(), WORKER, LONG], {
      cwd: __dirname, timeout: 30_000, encoding: 'utf8',
    });
    assert.equal(r.error, undefined, `round ${round}: ${r.error}`);
    assert.equal(r.signal, null, `round ${round}: killed by ${r.signal}\n${r.stderr}`);
    assert.equal(r.status, 0, `round ${round}: exit status ${r.status}\n${r.stderr}`);
  }
});
