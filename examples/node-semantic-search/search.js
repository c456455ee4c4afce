#!/usr/bin/env node
'use strict';
// Command line of the semantic-search example (see README.md).
//
//   node search.js index [FOLDER] [--db FILE] [--model GGUF] [--progress]
//   node search.js query TEXT...  [--db FILE] [--k N] [--json]

const path = require('node:path');
const { openIndex, indexFolder, search } = require('./lib');

const HERE = __dirname;
const DEFAULTS = {
  db: path.join(HERE, 'search.db'),
  model: process.env.SQLITE_EMBED_MODEL || path.join(HERE, '..', '..', 'models', 'all-MiniLM-L6-v2.f16.gguf'),
  folder: path.join(HERE, 'corpus'),
  k: 3,
};

function parseArgs(argv) {
  const opts = { positional: [], json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--progress') opts.progress = true;
    else if (a === '--db' || a === '--model' || a === '--k') {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else opts.positional.push(a);
  }
  return opts;
}

const USAGE = `usage:
  node search.js index [FOLDER] [--db FILE] [--model GGUF] [--progress]
                                   index FOLDER/*.txt (default: the bundled corpus); progress on stderr
                                   (live on a terminal, --progress: a line a second elsewhere)
  node search.js query TEXT...  [--db FILE] [--k N] [--json] the k passages closest in meaning`;

// "1:05" for 65 s; "?" before the first rate is known.
function formatSeconds(s) {
  if (s === null || !Number.isFinite(s)) return '?';
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

// An onProgress for indexFolder: "1200/5000 passages  85.3/s  ETA 0:45" on
// `stream`, rewritten in place on a terminal (at most 10 times a second),
// else one line a second; the last line always.
function progressPrinter(stream, live) {
  let last = -Infinity;
  return ({ done, total, rate, etaSeconds }) => {
    const now = Date.now();
    if (done !== total && now - last < (live ? 100 : 1000)) return;
    last = now;
    const line = `${done}/${total} passages  ${rate.toFixed(1)}/s  ETA ${formatSeconds(etaSeconds)}`;
    stream.write(live ? `\r${line}${done === total ? '\n' : ''}` : `${line}\n`);
  };
}

function main() {
  const [command, ...rest] = process.argv.slice(2);
  const opts = parseArgs(rest);
  const dbFile = opts.db || DEFAULTS.db;
  if (command === 'index') {
    const db = openIndex(dbFile, { model: opts.model, defaultModel: DEFAULTS.model });
    const folder = opts.positional[0] || DEFAULTS.folder;
    const live = Boolean(process.stderr.isTTY);
    const onProgress = live || opts.progress ? progressPrinter(process.stderr, live) : undefined;
    const r = indexFolder(db, folder, { onProgress });
    console.log(`indexed ${r.passages} passages from ${r.files} files of ${folder} into ${dbFile} in ${r.ms} ms`);
  } else if (command === 'query') {
    const query = opts.positional.join(' ');
    if (!query) throw new Error('query: give the text to search for');
    const k = Number.parseInt(opts.k || DEFAULTS.k, 10);
    if (!(k >= 1 && k <= 100)) throw new Error(`--k must be 1..100, got ${opts.k}`);
    const db = openIndex(dbFile, { model: opts.model });
    const hits = search(db, query, k);
    if (opts.json) {
      console.log(JSON.stringify(hits));
    } else {
      hits.forEach((h, i) => {
        const excerpt = h.body.length > 110 ? `${h.body.slice(0, 107)}...` : h.body;
        console.log(`${i + 1}. ${h.similarity.toFixed(3)}  ${h.file}#${h.para}\n   ${excerpt}`);
      });
    }
  } else {
    console.error(USAGE);
    process.exitCode = 2;
  }
}

try {
  main();
} catch (err) {
  console.error(`search.js: ${err.message}`);
  process.exitCode = 1;
}
