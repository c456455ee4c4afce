'use strict';
// Mechanics of sqlite-embed under better-sqlite3, on the tiny random models
// (their vectors mean nothing; semantics are checked with MiniLM in
// knn.test.js): loading, the model registry, the BLOB <-> Float32Array round
// trip against embed_json, sqlite-vec storage, and errors surfacing as JS
// exceptions that leave the process and the connection working.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openDb, registerModel, tinyModel, toFloat32 } = require('./helpers');

const BERT = tinyModel('tiny-bert-F32.gguf');
const NOMIC = tinyModel('tiny-nomic-Q8_0.gguf');
const TEXT = 'The quick brown fox jumps over the lazy dog.';

const db = openDb();
// Registration order matters for the default model: 'bert' first.
registerModel(db, 'bert', BERT);
registerModel(db, 'nomic', NOMIC);

const embedStmt = db.prepare('SELECT embed(?, ?) AS v');
const embed = (model, text) => embedStmt.get(model, text).v;

// Index and values of the first difference of two float arrays, for messages.
function firstDifference(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

test('the extension loads and reports its version', () => {
  const { v } = db.prepare('SELECT embed_version() AS v').get();
  assert.match(v, /^v\d+\.\d+\.\d+/);
});

test('embed_models lists registered models with their hyper-parameters', () => {
  const rows = db.prepare('SELECT * FROM embed_models ORDER BY name').all();
  const bert = rows.find((r) => r.name === 'bert');
  const nomic = rows.find((r) => r.name === 'nomic');
  assert.deepEqual(Object.keys(bert),
    ['name', 'path', 'arch', 'n_embd', 'n_layer', 'n_ctx', 'n_vocab', 'pooling', 'file_size', 'loaded',
      'max_tokens']);
  assert.deepEqual({ ...bert, loaded: undefined }, {
    name: 'bert', path: BERT, arch: 'bert', n_embd: 256, n_layer: 2, n_ctx: 64, n_vocab: 30522,
    pooling: 'mean', file_size: fs.statSync(BERT).size, loaded: undefined, max_tokens: 64,
  });
  assert.equal(nomic.arch, 'nomic-bert');
  assert.equal(nomic.n_ctx, 2048);
  embed('nomic', TEXT);
  assert.equal(db.prepare("SELECT loaded FROM embed_models WHERE name = 'nomic'").get().loaded, 1);
});

for (const model of ['bert', 'nomic']) {
  test(`${model}: the BLOB is little-endian float32 equal to embed_json, and round-trips`, () => {
    const blob = embed(model, TEXT);
    assert.ok(Buffer.isBuffer(blob));
    assert.equal(blob.byteLength, 256 * 4);
    const v = toFloat32(blob);
    // explicit little-endian decoding agrees with the typed-array view
    for (let i = 0; i < v.length; i++) assert.equal(blob.readFloatLE(4 * i), v[i]);

    const json = JSON.parse(db.prepare('SELECT embed_json(?, ?) AS j').get(model, TEXT).j);
    assert.equal(json.length, v.length);
    const fromJson = Float32Array.from(json); // %.9g text -> the exact float32
    assert.ok(fromJson.every((x, i) => Object.is(x, v[i])),
      `embed_json differs from the BLOB at ${firstDifference(fromJson, v)}`);

    const norm = Math.hypot(...v);
    assert.ok(Math.abs(norm - 1) < 1e-5, `L2 norm ${norm}`);

    // Float32Array -> Buffer -> SQL: same bytes back, similarity 1 with itself
    const back = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    const row = db.prepare('SELECT ? AS b, embed_similarity(?, embed(?, ?)) AS s').get(back, back, model, TEXT);
    assert.ok(row.b.equals(blob));
    assert.ok(Math.abs(row.s - 1) < 1e-6, `self-similarity ${row.s}`);

    // the same text gives the same bytes every time
    assert.ok(embed(model, TEXT).equals(blob));
  });
}

test('embed(text) uses the default model (first registered unless SQLITE_EMBED_MODEL is set)', (t) => {
  if (process.env.SQLITE_EMBED_MODEL) return t.skip('SQLITE_EMBED_MODEL is set');
  const v = db.prepare('SELECT embed(?) AS v').get(TEXT).v;
  assert.ok(v.equals(embed('bert', TEXT)));
});

test('options: dims and prefix change the vector; NULL text gives NULL', () => {
  const short = toFloat32(db.prepare(`SELECT embed('nomic', ?, '{"dims":64}') AS v`).get(TEXT).v);
  assert.equal(short.length, 64);
  assert.ok(Math.abs(Math.hypot(...short) - 1) < 1e-5);
  const prefixed = db.prepare(`SELECT embed('nomic', ?, '{"prefix":"search_query: "}') AS v`).get(TEXT).v;
  assert.ok(!prefixed.equals(embed('nomic', TEXT)));
  assert.equal(embed('bert', null), null);
});

test('vectors go into a sqlite-vec vec0 table and come back unchanged', () => {
  db.exec('CREATE VIRTUAL TABLE mech USING vec0(embedding float[256])');
  const texts = ['alpha', 'beta gamma', 'delta epsilon zeta', TEXT];
  const insert = db.prepare('INSERT INTO mech(rowid, embedding) VALUES (?, embed(?, ?))');
  texts.forEach((s, i) => insert.run(BigInt(i + 1), 'bert', s));
  const stored = db.prepare('SELECT rowid, embedding FROM mech ORDER BY rowid').all();
  stored.forEach((r, i) => assert.ok(r.embedding.equals(embed('bert', texts[i]))));
  // a vector is its own nearest neighbour at distance 0
  const hit = db.prepare('SELECT rowid, distance FROM mech WHERE embedding MATCH ? AND k = 1')
    .get(embed('bert', TEXT));
  assert.equal(hit.rowid, 4);
  assert.ok(hit.distance < 1e-6);
  // a Float32Array bound directly (sqlite-vec reads the bytes) finds the same row
  const v = toFloat32(embed('bert', 'beta gamma'));
  const hit2 = db.prepare('SELECT rowid FROM mech WHERE embedding MATCH ? AND k = 1')
    .get(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  assert.equal(hit2.rowid, 2);
});

test('errors surface as SqliteError with the SQL message; the connection keeps working', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-embed-node-'));
  const notGguf = path.join(tmp, 'not-a-model.gguf');
  fs.writeFileSync(notGguf, 'this is a text file, not a model\n');
  const truncated = path.join(tmp, 'truncated.gguf');
  fs.writeFileSync(truncated, fs.readFileSync(BERT).subarray(0, 100000));
  const before = embed('bert', TEXT);

  const register = 'INSERT INTO embed_models(name, path) VALUES (?, ?)';
  const cases = [
    [register, ['bad', notGguf], /^embed_models: gguf: .*not-a-model\.gguf: offset 0: magic is .* expected 47 47 55 46 .*not a GGUF file$/],
    [register, ['bad', truncated], /^embed_models: gguf: .*truncated\.gguf: offset \d+: .* bytes are left$/],
    [register, ['bad', path.join(tmp, 'missing.gguf')], /^embed_models: gguf: .*missing\.gguf: cannot open: No such file or directory$/],
    [register, ['bert', BERT], /^embed_models: a model named 'bert' is already registered; DELETE it first$/],
    ['SELECT embed(?, ?)', ['nope', TEXT], /^embed: no model named 'nope' is registered/],
    ['SELECT embed(?, ?)', ['bert', Buffer.from('bytes')], /^embed: text must be TEXT, got BLOB$/],
    ['SELECT embed(?, ?, ?)', ['bert', TEXT, 'not json'], /^embed: options are not valid JSON/],
    ['SELECT embed(?, ?, ?)', ['bert', TEXT, '{"dims":9999}'], /^embed: model 'bert': dims 9999 exceeds the model's 256 dimensions$/],
    ['SELECT embed(?, ?, ?)', ['bert', TEXT, '{"bogus":1}'], /^embed: unknown option "bogus"/],
    ['SELECT embed(?, ?, ?)', ['bert', 'word '.repeat(100), '{"truncate":false}'],
      /^embed: model 'bert': the text has 102 tokens \(with \[CLS\] and \[SEP\]\), maximum 64; truncation is off$/],
    // over the input limit (regression: the message's %zu crashed the host)
    ['SELECT embed(?, ?)', ['bert', 'x'.repeat(16 * 1024 * 1024 + 1)], /^embed: input is 16777217 bytes, maximum 16777216$/],
    ['SELECT embed_similarity(?, ?)', [Buffer.alloc(4), Buffer.alloc(8)], /^embed_similarity: vectors have 1 and 2 dimensions$/],
  ];
  for (const [sql, params, message] of cases) {
    assert.throws(() => {
      const st = db.prepare(sql);
      return st.reader ? st.all(...params) : st.run(...params);
    }, (err) => {
      assert.equal(err.name, 'SqliteError', `${sql}: ${err}`);
      assert.equal(err.code, 'SQLITE_ERROR');
      assert.match(err.message, message);
      return true;
    }, `${sql} with ${params.map(String).map((s) => s.slice(0, 40))} did not throw`);
    // the failure left no trace: same vector as before
    assert.ok(embed('bert', TEXT).equals(before));
  }
  assert.equal(db.prepare("SELECT count(*) AS n FROM embed_models WHERE name = 'bad'").get().n, 0);

  // errors inside a transaction roll back only what the caller rolls back
  db.exec('CREATE TABLE docs(id INTEGER PRIMARY KEY, v BLOB)');
  const tx = db.transaction((rows) => {
    for (const [id, model] of rows) db.prepare('INSERT INTO docs VALUES (?, embed(?, ?))').run(id, model, TEXT);
  });
  assert.throws(() => tx([[1, 'bert'], [2, 'nope']]), /no model named 'nope'/);
  assert.equal(db.prepare('SELECT count(*) AS n FROM docs').get().n, 0);
  tx([[1, 'bert'], [2, 'nomic']]);
  assert.equal(db.prepare('SELECT count(*) AS n FROM docs').get().n, 2);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a model can be unregistered and registered again', () => {
  const v = embed('nomic', TEXT);
  db.prepare("DELETE FROM embed_models WHERE name = 'nomic'").run();
  assert.throws(() => embed('nomic', TEXT), /no model named 'nomic'/);
  registerModel(db, 'nomic', NOMIC);
  assert.ok(embed('nomic', TEXT).equals(v));
});

test('the registry is process-wide: a second connection sees the models', () => {
  const other = openDb({ vec: false });
  const names = other.prepare('SELECT name FROM embed_models ORDER BY name').all().map((r) => r.name);
  assert.ok(names.includes('bert') && names.includes('nomic'), `got ${names}`);
  assert.ok(other.prepare("SELECT embed('bert', ?) AS v").get(TEXT).v.equals(embed('bert', TEXT)));
  other.close();
});
