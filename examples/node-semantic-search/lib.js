'use strict';
// Semantic search over a folder of text files: SQLite holds the passages,
// sqlite-embed computes the vectors inside SQL, sqlite-vec ranks them.
//
//   const { openIndex, indexFolder, search } = require('./lib');
//   const db = openIndex('search.db', { model: 'models/all-MiniLM-L6-v2.f16.gguf' });
//   indexFolder(db, 'corpus', { onProgress: ({ done, total, rate, etaSeconds }) => ... });
//   search(db, 'a sailor who goes to sea to cure his gloom', 3);
//
// Schema (one file, no server):
//   meta(key, value)            the model file and its width, fixed at creation
//   passages(id, file, para, body)   one row per paragraph (blank-line separated)
//   passages_vec                vec0 table, rowid = passages.id, cosine distance

const fs = require('node:fs');
const path = require('node:path');
const Database = require('better-sqlite3');
const sqliteVec = require('sqlite-vec');
const sqliteEmbed = require('sqlite-embed');

const MODEL = 'search'; // the name this app registers its model under

// nomic-embed models are trained with task prefixes; bert models have none.
function embedOptions(arch, kind) {
  if (arch !== 'nomic-bert') return '{}';
  return JSON.stringify({ prefix: kind === 'query' ? 'search_query: ' : 'search_document: ' });
}

// Opens (creating if needed) an index database. The model: `model` if given,
// else the one the index was built with, else `defaultModel` for a new index
// (an index refuses a different model: its vectors live in another space).
function openIndex(dbFile, { model: modelArg, defaultModel } = {}) {
  const db = new Database(dbFile);
  sqliteVec.load(db);
  sqliteEmbed.load(db);
  db.exec('CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const meta = Object.fromEntries(db.prepare('SELECT key, value FROM meta').all().map((r) => [r.key, r.value]));
  const chosen = modelArg || meta.model || defaultModel;
  if (!chosen) throw new Error(`${dbFile} is a new index: give the model file (--model)`);
  const model = path.resolve(chosen);
  if (meta.model && meta.model !== model)
    throw new Error(`${dbFile} was built with ${meta.model}; index into a new file to use ${model}`);

  // The registry is process-wide: register once, reuse on later opens.
  const registered = db.prepare('SELECT path FROM embed_models WHERE name = ?').get(MODEL);
  if (registered && registered.path !== model) db.prepare('DELETE FROM embed_models WHERE name = ?').run(MODEL);
  if (!registered || registered.path !== model)
    db.prepare('INSERT INTO embed_models(name, path) VALUES (?, ?)').run(MODEL, model);
  const info = db.prepare('SELECT arch, n_embd FROM embed_models WHERE name = ?').get(MODEL);

  if (!meta.model) {
    db.transaction(() => {
      db.prepare('INSERT INTO meta VALUES (?, ?), (?, ?)').run('model', model, 'n_embd', String(info.n_embd));
      db.exec(`
        CREATE TABLE passages(id INTEGER PRIMARY KEY, file TEXT NOT NULL, para INTEGER NOT NULL,
                              body TEXT NOT NULL, UNIQUE(file, para));
        CREATE VIRTUAL TABLE passages_vec USING vec0(embedding float[${info.n_embd}] distance_metric=cosine);`);
    })();
  }
  db.arch = info.arch;
  return db;
}

// Paragraphs of a text: blank-line separated, inner line breaks folded.
function paragraphs(text) {
  return text.split(/\r?\n\s*\r?\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter(Boolean);
}

// Texts per embed_batch statement: rows are buffered per slice because
// better-sqlite3 runs no other statement on the connection while an
// iterator is open (the vectors are inserted after each slice).
const SLICE = 512;

// Progress of a long job: call tick() once per finished item; report gets
// { done, total, rate (items/s), etaSeconds } after every tick.
function progressMeter(total, report, now = () => performance.now()) {
  const started = now();
  let done = 0;
  return {
    tick() {
      done++;
      if (!report) return;
      const seconds = (now() - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      report({ done, total, rate, etaSeconds: rate > 0 ? (total - done) / rate : null });
    },
  };
}

// (Re-)indexes every *.txt file of `folder`: a file's old passages are
// replaced, so running it again after editing files is safe. The vectors
// come from embed_batch (the bulk path: many passages per forward pass),
// its rows read one by one with stmt.iterate() so that `onProgress` sees
// { done, total, rate, etaSeconds } as they arrive. One transaction: an
// interrupted run leaves the index as it was.
// Returns { files, passages, ms }.
function indexFolder(db, folder, { onProgress } = {}) {
  const started = Date.now();
  const files = fs.readdirSync(folder).filter((f) => f.endsWith('.txt')).sort();
  const options = embedOptions(db.arch, 'document');
  const oldIds = db.prepare('SELECT id FROM passages WHERE file = ?');
  const dropVec = db.prepare('DELETE FROM passages_vec WHERE rowid = ?');
  const dropPassages = db.prepare('DELETE FROM passages WHERE file = ?');
  const addPassage = db.prepare('INSERT INTO passages(file, para, body) VALUES (?, ?, ?)');
  const embedRows = db.prepare('SELECT id, vector FROM embed_batch(?, ?, ?)');
  const addVector = db.prepare('INSERT INTO passages_vec(rowid, embedding) VALUES (?, ?)');
  let count = 0;
  db.transaction(() => {
    const todo = []; // [{ id, text }]: embed_batch's input elements
    for (const file of files) {
      for (const { id } of oldIds.all(file)) dropVec.run(BigInt(id));
      dropPassages.run(file);
      paragraphs(fs.readFileSync(path.join(folder, file), 'utf8')).forEach((body, i) => {
        const { lastInsertRowid } = addPassage.run(file, i + 1, body);
        todo.push({ id: Number(lastInsertRowid), text: body });
      });
    }
    const meter = progressMeter(todo.length, onProgress);
    for (let at = 0; at < todo.length; at += SLICE) {
      const rows = [];
      for (const row of embedRows.iterate(MODEL, JSON.stringify(todo.slice(at, at + SLICE)), options)) {
        rows.push(row);
        meter.tick();
      }
      for (const { id, vector } of rows) addVector.run(BigInt(id), vector);
    }
    count = todo.length;
  })();
  return { files: files.length, passages: count, ms: Date.now() - started };
}

// The k passages closest in meaning to `query`:
// [{ file, para, body, distance, similarity }], nearest first.
function search(db, query, k = 3) {
  return db.prepare(`
    SELECT p.file, p.para, p.body, v.distance, 1 - v.distance AS similarity
    FROM passages_vec v JOIN passages p ON p.id = v.rowid
    WHERE v.embedding MATCH embed(?, ?, ?) AND k = ?
    ORDER BY v.distance`).all(MODEL, query, embedOptions(db.arch, 'query'), BigInt(k));
}

module.exports = { openIndex, indexFolder, search, paragraphs, progressMeter };
