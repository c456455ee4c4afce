'use strict';
// Semantic search with the real all-MiniLM-L6-v2 and sqlite-vec: documents
// on twelve unrelated topics, queries that share few or no words with their
// answer. Each query's nearest neighbour is the one document on its topic,
// by a clear margin over the runner-up (the smallest measured margin is 0.23 in cosine
// distance; the test asks for 0.05).

const test = require('node:test');
const assert = require('node:assert/strict');
const { openDb, registerModel, miniLM, toFloat32 } = require('./helpers');

const DOCS = [
  'The cat curled up on the windowsill and purred in the sun.',
  'A dog barked at the mail carrier all morning.',
  'The central bank raised interest rates to fight inflation.',
  'Shares on the stock exchange fell sharply after the earnings report.',
  'Preheat the oven and bake the bread for forty minutes.',
  'Whisk the eggs with sugar until the mixture is pale and fluffy.',
  'The rover collected rock samples from the surface of Mars.',
  'Astronomers discovered a planet orbiting a distant star.',
  'The striker scored twice in the second half to win the match.',
  'She trained every day for months to run the marathon.',
  'Heavy rain and strong winds are expected over the weekend.',
  'The doctor prescribed antibiotics for the infection.',
];
const QUERIES = [
  ['Which pet is lying in the sunshine?', 0],
  ['My puppy keeps making noise at the postman.', 1],
  ['monetary policy and borrowing costs', 2],
  ['The market crashed and investors lost money.', 3],
  ['How long should I keep the loaf in the oven?', 4],
  ['a robot vehicle exploring Mars', 6],
  ['a new exoplanet found by telescope', 7],
  ['football game goals', 8],
  ['long-distance running preparation', 9],
  ['weather forecast storm', 10],
  ['medicine for a bacterial illness', 11],
];

const db = openDb();
registerModel(db, 'minilm', miniLM());

test('MiniLM geometry as the registry reports it', () => {
  const m = db.prepare("SELECT arch, n_embd, n_layer, n_ctx, pooling FROM embed_models WHERE name = 'minilm'").get();
  assert.deepEqual(m, { arch: 'bert', n_embd: 384, n_layer: 6, n_ctx: 512, pooling: 'mean' });
});

test('documents embedded by a trigger into vec0; KNN returns the topical neighbour', () => {
  db.exec(`
    CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
    CREATE VIRTUAL TABLE docs_vec USING vec0(embedding float[384] distance_metric=cosine);
    CREATE TRIGGER docs_embed AFTER INSERT ON docs BEGIN
      INSERT INTO docs_vec(rowid, embedding) VALUES (new.id, embed('minilm', new.body));
    END;`);
  const insert = db.prepare('INSERT INTO docs(id, body) VALUES (?, ?)');
  db.transaction(() => DOCS.forEach((body, i) => insert.run(i + 1, body)))();
  assert.equal(db.prepare('SELECT count(*) AS n FROM docs_vec').get().n, DOCS.length);

  const knn = db.prepare(`
    SELECT d.id, d.body, v.distance
    FROM docs_vec v JOIN docs d ON d.id = v.rowid
    WHERE v.embedding MATCH embed('minilm', ?) AND k = 3
    ORDER BY v.distance`);
  for (const [query, expected] of QUERIES) {
    const hits = knn.all(query);
    assert.equal(hits.length, 3);
    assert.equal(hits[0].body, DOCS[expected],
      `"${query}": got ${hits.map((h) => `${h.id - 1}@${h.distance.toFixed(3)}`).join(', ')}`);
    assert.ok(hits[1].distance - hits[0].distance > 0.05,
      `"${query}": margin ${(hits[1].distance - hits[0].distance).toFixed(3)} too small`);
  }
});

test('vec0 cosine distance equals 1 - embed_similarity', () => {
  const q = 'How long should I keep the loaf in the oven?';
  const hit = db.prepare(`SELECT rowid, distance FROM docs_vec WHERE embedding MATCH embed('minilm', ?) AND k = 1`).get(q);
  const sim = db.prepare("SELECT embed_similarity(embed('minilm', ?), embed('minilm', body)) AS s FROM docs WHERE id = ?")
    .get(q, hit.rowid).s;
  assert.ok(Math.abs(hit.distance - (1 - sim)) < 1e-5, `distance ${hit.distance}, 1 - similarity ${1 - sim}`);
});

test('a query vector computed in JS (Float32Array) finds the same neighbours', () => {
  const q = toFloat32(db.prepare("SELECT embed('minilm', ?) AS v").get('weather forecast storm').v);
  assert.equal(q.length, 384);
  const hit = db.prepare('SELECT rowid FROM docs_vec WHERE embedding MATCH ? AND k = 1')
    .get(Buffer.from(q.buffer, q.byteOffset, q.byteLength));
  assert.equal(hit.rowid, 11);
  // sqlite-vec also accepts the JSON form embed_json returns
  const viaJson = db.prepare("SELECT rowid FROM docs_vec WHERE embedding MATCH embed_json('minilm', ?) AND k = 1")
    .get('weather forecast storm');
  assert.equal(viaJson.rowid, 11);
});
