// Type-checked (never run) by types.test.js with tsc --strict: every export
// of index.d.ts used the way docs/node.md shows, against better-sqlite3's
// own types; the @ts-expect-error lines must stay errors.
import Database = require('better-sqlite3');
import sqliteEmbed = require('../../..');
import type { Db, EmbedBatchRow, EmbedChunkRow } from '../../..';

const db = new Database(':memory:');
sqliteEmbed.load(db); // better-sqlite3's Database is a Db
const asDb: Db = db;
const file: string = sqliteEmbed.getLoadablePath();
const entry: string = sqliteEmbed.entryPoint;
asDb.loadExtension(file, entry);

const texts = [{ id: 1, text: 'hello' }];
for (const row of db.prepare('SELECT i, id, vector, tokens FROM embed_batch(?, ?)')
  .iterate('minilm', JSON.stringify(texts)) as IterableIterator<EmbedBatchRow>) {
  const position: number = row.i;
  const id: number | string | null = row.id;
  if (row.vector !== null) {
    const v = new Float32Array(row.vector.buffer, row.vector.byteOffset, row.vector.byteLength / 4);
    const tokens: number | null = row.tokens;
    void [position, id, v, tokens];
  }
}
const chunk = db.prepare('SELECT i, start, "end", text, tokens FROM embed_chunks(?, ?)')
  .get('minilm', 'a long text') as EmbedChunkRow | undefined;
if (chunk) {
  const bytes: number = chunk.end - chunk.start;
  const text: string = chunk.text;
  void [bytes, text, chunk.i, chunk.tokens];
}

// @ts-expect-error load() needs a connection that can load extensions
sqliteEmbed.load({});
// @ts-expect-error getLoadablePath takes no argument
sqliteEmbed.getLoadablePath('x');
// @ts-expect-error a batch row's vector may be null
new Float32Array(({} as EmbedBatchRow).vector.buffer);
