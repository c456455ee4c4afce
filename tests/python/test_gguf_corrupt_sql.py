"""Hundreds of randomly corrupted GGUF files through gguf_tensors() and
gguf_metadata() in the sqlite3 shell: each must give an SQL error or a
result, never a crash of the host process."""
import random
import subprocess
import shutil

import pytest

from conftest import BUILD, FIXTURES, TEST_DATA

VOCAB = TEST_DATA / "bert-vocab" / "ggml-vocab-bert-bge.gguf"
N_VARIANTS = 400


def baselines():
    files = [VOCAB]
    models = FIXTURES / "models"
    if models.is_dir():
        small = sorted(models.glob("tiny-bert-Q4_0.gguf"))
        files += small[:1]
    samples = BUILD / "gguf_samples" / "gguf"
    if samples.is_dir():
        files += sorted(p for p in samples.glob("*.gguf") if p.stat().st_size < 4 << 20)[:3]
    return files


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random corruption, biased towards the header where the parser
    makes its decisions."""
    b = bytearray(data)
    kind = rng.randrange(5)
    limit = min(len(b), 4096 if rng.random() < 0.8 else len(b))
    if kind == 0:  # flip bits
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(limit)
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # overwrite with extreme bytes (huge lengths / counts)
        i = rng.randrange(max(1, limit - 8))
        b[i:i + 8] = bytes([rng.choice([0x00, 0xFF, 0x7F, 0x80])] * 8)
    elif kind == 2:  # truncate
        del b[rng.randrange(len(b)):]
    elif kind == 3:  # random bytes
        i = rng.randrange(limit)
        n = rng.randint(1, 32)
        b[i:i + n] = bytes(rng.randrange(256) for _ in range(n))
    else:  # duplicate a chunk (shifts everything after it)
        i = rng.randrange(limit)
        n = rng.randint(1, 64)
        b[i:i] = b[i:i + n]
    return bytes(b)


def run_batch(extension, paths):
    lines = [f".load {extension}"]
    for p in paths:
        lit = "'" + str(p).replace("'", "''") + "'"
        lines.append(f"SELECT count(*), sum(n_bytes) FROM gguf_tensors({lit});")
        lines.append(f"SELECT count(*), sum(length(value)) FROM gguf_metadata({lit});")
    return subprocess.run([shutil.which("sqlite3"), "-batch", "-init", "/dev/null", ":memory:"],
                          input="\n".join(lines), capture_output=True, text=True, errors="replace")


def test_corrupted_files_never_crash(extension_path, tmp_path):
    rng = random.Random(20261126)
    bases = [p.read_bytes() for p in baselines()]
    paths = []
    for i in range(N_VARIANTS):
        data = mutate(bases[i % len(bases)], rng)
        p = tmp_path / f"corrupt-{i:04d}.gguf"
        p.write_bytes(data)
        paths.append(p)
    proc = run_batch(extension_path, paths)
    if proc.returncode < 0 or proc.returncode >= 128:
        # find the culprit for the report
        for p in paths:
            single = run_batch(extension_path, [p])
            if single.returncode < 0 or single.returncode >= 128:
                pytest.fail(f"sqlite3 crashed (rc {single.returncode}) on {p}: {single.stderr[-2000:]}")
        pytest.fail(f"sqlite3 crashed (rc {proc.returncode}): {proc.stderr[-2000:]}")
    errors = [l for l in proc.stderr.splitlines() if "error" in l.lower()]
    # every error must be one of ours, naming the function
    for line in errors:
        assert "gguf_tensors: gguf: " in line or "gguf_metadata: gguf: " in line, line
    # the mutations must actually exercise the error paths
    assert len(errors) > N_VARIANTS // 4, f"only {len(errors)} errors for {N_VARIANTS} corrupt files"
