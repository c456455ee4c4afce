'use strict';
// The bulk-path progress snippet of docs/node.md ("Long jobs") runs as
// written: in a child process, after a set-up that gives it `db` (sqlite-embed
// and sqlite-vec loaded, MiniLM registered as 'minilm', 60 rows in docs, an
// empty docs_vec); its progress goes to stderr, the vectors into docs_vec.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { REPO, miniLM, extensionPath } = require('./helpers');

function snippet(doc, heading) {
  const text = fs.readFileSync(path.join(REPO, doc), 'utf8');
  const m = new RegExp(`## ${heading}\\n[\\s\\S]*?\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(text);
  assert.ok(m, `${doc} has no js block under "## ${heading}"`);
  return m[1];
}

test('docs/node.md: the progress loop over embed_batch rows', () => {
  const setup = `
    const Database = require('better-sqlite3');
    const db = new Database(':memory:');
    db.loadExtension(${JSON.stringify(extensionPath())}, 'sqlite3_embed_init');
    require('sqlite-vec').load(db);
    db.prepare("INSERT INTO embed_models(name, path) VALUES ('minilm', ?)").run(${JSON.stringify(miniLM())});
    db.exec('CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT NOT NULL);'
      + 'CREATE VIRTUAL TABLE docs_vec USING vec0(embedding float[384] distance_metric=cosine)');
    const ins = db.prepare('INSERT INTO docs(id, body) VALUES (?, ?)');
    for (let i = 1; i <= 60; i++) ins.run(i * 10, 'Sentence number ' + i + ' about ' + (i % 2 ? 'gardening' : 'astronomy') + '.');
  `;
  const check = `
    const n = db.prepare('SELECT count(*) AS n FROM docs_vec').get().n;
    const same = db.prepare("SELECT count(*) AS n FROM docs d JOIN docs_vec v ON v.rowid = d.id").get().n;
    process.stdout.write(JSON.stringify({ n, same }));
  `;
  const r = spawnSync(process.execPath, ['-e', setup + snippet('docs/node.md', 'Long jobs: the bulk path with progress') + check],
    { encoding: 'utf8', env: { ...process.env, NODE_PATH: path.join(__dirname, 'node_modules') } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { n: 60, same: 60 });
  const updates = r.stderr.split('\r').filter(Boolean);
  assert.equal(updates.length, 60);
  assert.match(updates.at(-1), /^60\/60 {2}\d+\.\d\/s {2}ETA 0 s $/);
});
