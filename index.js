'use strict';
// sqlite-embed for Node.js: where the loadable extension is, and a loader for
// better-sqlite3 (or any driver with loadExtension(file, entryPoint)).
//
//   const Database = require('better-sqlite3');
//   const sqliteEmbed = require('sqlite-embed');
//   const db = new Database(':memory:');
//   sqliteEmbed.load(db);
//   db.prepare("INSERT INTO embed_models(name, path) VALUES ('m', ?)").run('model.gguf');
//   const blob = db.prepare("SELECT embed('m', ?) AS v").get('hello').v; // float32 LE
//
// The extension is built from source by the package's install script
// (tools/npm-install.js: CMake, into build/), never downloaded.

const fs = require('node:fs');
const path = require('node:path');

const entryPoint = 'sqlite3_embed_init';

// CMake's MODULE library suffix: .so on Linux and macOS.
const FILE_NAME = process.platform === 'win32' ? 'embed.dll' : 'embed.so';

/** Absolute path of the built extension; throws if it has not been built. */
function getLoadablePath() {
  const file = path.join(__dirname, 'build', FILE_NAME);
  if (!fs.existsSync(file)) {
    throw new Error(`sqlite-embed: the extension ${file} is not built. Run \`npm rebuild sqlite-embed\` `
      + '(needs cmake >= 3.18, a C compiler and the SQLite and OpenBLAS development files; '
      + 'Debian/Ubuntu: apt-get install cmake build-essential pkg-config libsqlite3-dev libopenblas-dev).');
  }
  return file;
}

/** Loads the extension into a connection: db.loadExtension(path, 'sqlite3_embed_init'). */
function load(db) {
  db.loadExtension(getLoadablePath(), entryPoint);
}

module.exports = { getLoadablePath, load, entryPoint };
