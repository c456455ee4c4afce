/**
 * sqlite-embed for Node.js: the path of the loadable SQLite extension and a
 * loader for better-sqlite3 (or any driver with `loadExtension(file, entryPoint)`).
 */

/** The extension's entry point, `"sqlite3_embed_init"`. */
export declare const entryPoint: string;

/**
 * Absolute path of the built extension (`<package>/build/embed.so`).
 * Throws an Error naming the missing file and how to build it if the
 * install script has not built it.
 */
export declare function getLoadablePath(): string;

/** A connection that can load SQLite extensions (better-sqlite3's Database, node:sqlite's DatabaseSync). */
export interface Db {
  loadExtension(file: string, entryPoint?: string | undefined): unknown;
}

/**
 * Loads sqlite-embed into `db`: `db.loadExtension(getLoadablePath(), entryPoint)`.
 * Afterwards `embed()`, `embed_json()`, `embed_similarity()`, `embed_models`,
 * ... are available on that connection. Models registered through
 * `embed_models` are process-wide (shared by every connection and worker thread).
 */
export declare function load(db: Db): void;
