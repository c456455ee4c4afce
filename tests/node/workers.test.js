'use strict';
// worker_threads: four workers with their own connections embed at the same
// time with models the main thread registered once (one process-wide
// registry, one mapping per model). Every vector must equal, bit for bit, the
// one a single thread computed before any worker started.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { extensionPath, openDb, registerModel, miniLM, tinyModel } = require('./helpers');

const N_WORKERS = 4;
const WORKER = path.join(__dirname, 'embed-worker.js');

const SENTENCE = 'Concurrent embedding must not change a single bit of the result, whatever the other threads do. ';
const TEXTS = [
  ...Array.from({ length: 20 }, (_, i) => `text number ${i}: ${['short', 'a little longer text', 'café naïve résumé', '東京 と 大阪', 'emoji 🙂 here'][i % 5]}`),
  SENTENCE.repeat(8), // 162 tokens
  SENTENCE.repeat(32), // 642 tokens: truncated to MiniLM's 512
  '',
];

const db = openDb({ vec: false });
registerModel(db, 'minilm', miniLM());
registerModel(db, 'tiny-nomic-q8', tinyModel('tiny-nomic-Q8_0.gguf'));

// Resolves with the worker's result message; onStart runs when it reports
// that it has started embedding.
function runWorker(data, onStart = () => {}) {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: { extension: extensionPath(), ...data } });
    const messages = [];
    w.on('message', (m) => (m.started ? onStart() : messages.push(m)));
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve(messages[0]) : reject(new Error(`worker exited with ${code}`))));
  });
}

function compareBitwise(reference, vectors, label) {
  assert.equal(vectors.length, reference.length, label);
  for (let i = 0; i < reference.length; i++) {
    const got = Buffer.from(vectors[i]);
    if (!got.equals(reference[i])) {
      const a = new Float32Array(vectors[i]);
      const b = new Float32Array(reference[i].buffer.slice(reference[i].byteOffset, reference[i].byteOffset + reference[i].byteLength));
      let worst = 0;
      let first = -1;
      for (let j = 0; j < b.length; j++) {
        if (!Object.is(a[j], b[j]) && first < 0) first = j;
        worst = Math.max(worst, Math.abs(a[j] - b[j]));
      }
      assert.fail(`${label}, text ${i}: differs from the single-threaded vector; first at [${first}] `
        + `${a[first]} vs ${b[first]}, largest difference ${worst}`);
    }
  }
}

for (const model of ['minilm', 'tiny-nomic-q8']) {
  test(`${model}: ${N_WORKERS} workers embedding concurrently give the single-threaded bits`, { timeout: 300_000 }, async (t) => {
    const stmt = db.prepare('SELECT embed(?, ?) AS v');
    const reference = TEXTS.map((s) => stmt.get(model, s).v);
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: N_WORKERS }, (_, w) =>
      runWorker({ mode: 'embed', model, texts: TEXTS, start: Math.floor((w * TEXTS.length) / N_WORKERS) })));
    const elapsed = Date.now() - started;
    results.forEach((r, w) => {
      assert.ok(r.models.includes(model), `worker ${w} does not see ${model}: ${r.models}`);
      compareBitwise(reference, r.vectors, `worker ${w}`);
    });
    t.diagnostic(`${model}: ${N_WORKERS} x ${TEXTS.length} texts in ${elapsed} ms`);
    const row = db.prepare('SELECT loaded FROM embed_models WHERE name = ?').get(model);
    assert.equal(row.loaded, 1);
  });
}

test('unregistering a model while workers use it: calls in flight finish, later ones fail cleanly', { timeout: 120_000 }, async () => {
  registerModel(db, 'ephemeral', tinyModel('tiny-bert-Q8_0.gguf'));
  const text = 'the model disappears under my feet';
  const expected = db.prepare("SELECT embed('ephemeral', ?) AS v").get(text).v;
  let startedCount = 0;
  let unregister;
  const allStarted = new Promise((resolve) => { unregister = resolve; });
  const runs = Array.from({ length: N_WORKERS }, () => runWorker(
    { mode: 'until-error', model: 'ephemeral', text },
    () => { if (++startedCount === N_WORKERS) unregister(); }));
  await allStarted;
  await new Promise((r) => setTimeout(r, 200));
  db.prepare("DELETE FROM embed_models WHERE name = 'ephemeral'").run();
  const results = await Promise.all(runs);
  for (const r of results) {
    assert.ok(r.error, `a worker embedded ${r.count} times and never saw the model go`);
    assert.equal(r.error.code, 'SQLITE_ERROR');
    assert.match(r.error.message, /^embed: no model named 'ephemeral' is registered/);
    assert.ok(r.vectors.every((v) => Buffer.from(v).equals(expected)), 'a result differed while unregistering');
  }
  // and the main connection still works
  assert.equal(db.prepare("SELECT length(embed('minilm', 'still alive')) AS n").get().n, 384 * 4);
});
