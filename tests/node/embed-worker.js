'use strict';
// worker_threads worker for workers.test.js: opens its own better-sqlite3
// connection, loads the extension (the process already has it: the library
// and its model registry are shared) and embeds with models registered by
// the main thread.
//
// workerData:
//   { extension, mode: 'embed', model, texts, start }
//       embeds every text, beginning at index `start` (so that the workers
//       work on different texts at the same moment); posts
//       { vectors: ArrayBuffer[] (in text order), models: [names seen] }
//   { extension, mode: 'until-error', model, text }
//       embeds `text` until embed() throws (the main thread unregisters the
//       model meanwhile); posts { vectors: distinct results, count, error }

const { parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');

const { extension, mode, model } = workerData;
const db = new Database(':memory:');
db.loadExtension(extension, 'sqlite3_embed_init');
const embed = db.prepare('SELECT embed(?, ?) AS v');
const copy = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);

if (mode === 'embed') {
  const { texts, start } = workerData;
  const models = db.prepare('SELECT name FROM embed_models ORDER BY name').all().map((r) => r.name);
  const vectors = new Array(texts.length);
  for (let k = 0; k < texts.length; k++) {
    const i = (start + k) % texts.length;
    vectors[i] = copy(embed.get(model, texts[i]).v);
  }
  parentPort.postMessage({ vectors, models }, vectors);
} else if (mode === 'until-error') {
  const distinct = new Map();
  let count = 0;
  let error = null;
  parentPort.postMessage({ started: true });
  for (;;) {
    try {
      const v = embed.get(model, workerData.text).v;
      distinct.set(v.toString('base64'), copy(v));
      count++;
    } catch (err) {
      error = { name: err.name, code: err.code, message: err.message };
      break;
    }
    if (count > 100000) break; // the main thread never unregistered: report it
  }
  const vectors = [...distinct.values()];
  parentPort.postMessage({ vectors, count, error }, vectors);
} else {
  throw new Error(`unknown mode ${mode}`);
}
db.close();
