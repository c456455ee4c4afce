'use strict';
// index.d.ts types everything the package exports: its value exports are
// exactly index.js's, and types/usage.ts (every export, the row types of
// embed_batch and embed_chunks, better-sqlite3's Database as a Db, and
// misuses that must stay errors) type-checks with tsc --strict.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { REPO } = require('./helpers');

test('index.d.ts declares exactly the values index.js exports', () => {
  const types = fs.readFileSync(path.join(REPO, 'index.d.ts'), 'utf8');
  const declared = [...types.matchAll(/^export declare (?:const|function|let|class) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), Object.keys(require(REPO)).sort());
});

test('a program using every export type-checks with tsc --strict', () => {
  const tsc = path.join(__dirname, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
});
