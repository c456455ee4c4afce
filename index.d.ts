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

/**
 * A row of `SELECT i, id, vector, tokens FROM embed_batch(model, texts_json [, options])`
 * as better-sqlite3 returns it (with `safeIntegers` off). One row per element of
 * the JSON array, in input order.
 */
export interface EmbedBatchRow {
  /** The element's 0-based position in the array. */
  i: number;
  /** The element's `id` (`{"id": ..., "text": ...}` elements); null for plain strings. */
  id: number | string | null;
  /** float32 little-endian vector, as `embed()` returns it (a Buffer); null for a null text. */
  vector: Uint8Array | null;
  /** Tokens embedded (after truncation), with [CLS] and [SEP]; null for a null text. */
  tokens: number | null;
}

/**
 * A row of `SELECT i, start, "end", text, tokens FROM embed_chunks(model, text [, options])`:
 * one window of a long text that fits the model (docs/chunking.md).
 */
export interface EmbedChunkRow {
  /** Chunk number, from 0. */
  i: number;
  /** Byte offset of the chunk in the UTF-8 text (inclusive). */
  start: number;
  /** Byte offset of the chunk's end (exclusive). */
  end: number;
  /** The chunk: exactly those bytes of the text. */
  text: string;
  /** Its token count with [CLS] and [SEP] (what embed() of `text` sees). */
  tokens: number;
}
