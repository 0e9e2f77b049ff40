"""P16 (history search latency) and P17 (recording cost) on a generated history.

P16 fills a history file with 100,000 entries (2,000 in the smoke profile) whose prompts
look like real ones: 5-40 words in comma-separated chunks (subject, details, style,
artists, quality tags) drawn with a Zipf law from a few thousand words, shared negative
prompts, a handful of models and LoRAs, a year of timestamps, and a real-sized thumbnail
each. It then times HistoryStore.search for one-word and three-word queries taken from
the data (so they hit), each with and without a filter (date range, model, mode, kept),
at the limit the window asks for, and reports p99 per kind; as-you-type prefix queries
are reported beside them.

P17 times what recording adds to a job, side by side: writing a 512x512 result PNG
(the CLI's job end) with history off, and the same plus the CLI's hook
(record_cli_results: thumbnail, one transaction) into the 100k-entry file, interleaved;
the median difference is the figure. The database size per 1,000 entries comes from the
100k file.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from pathlib import Path

import numpy as np

from tests.bench.common import Context, Result, median, percentile

ENTRIES = {"smoke": 2_000}
DEFAULT_ENTRIES = 100_000
QUERIES = {"smoke": 40}
DEFAULT_QUERIES = 300
LIMIT = 200  # what the Generations panel asks for
P16_TARGET_S = 0.020
P17_TARGET_S = 0.005

_SUBJECTS = """portrait woman man girl boy knight wizard dragon castle lighthouse city street
forest mountain river lake ocean beach harbour village temple cathedral robot cyborg
spaceship astronaut cat dog fox wolf owl horse tiger lion deer bird butterfly flower rose
garden house cabin tower bridge ruins desert canyon waterfall island volcano cave library
kitchen cafe market train car motorcycle ship airship samurai ninja princess queen king
witch elf dwarf orc goblin monster skeleton angel demon mermaid fairy giant warrior""".split()
_DETAILS = """red blue green golden silver black white purple orange pink crimson emerald
glowing ancient futuristic ruined abandoned overgrown foggy misty rainy snowy sunny stormy
night dusk dawn sunset sunrise moonlight starry cloudy windy autumn winter spring summer
long hair short hair freckles smiling serious armor cloak dress hat crown sword staff
lantern candles neon lights reflections puddles smoke fire sparks flowers vines moss
intricate ornate elegant dramatic cinematic lighting rim light volumetric soft light
backlit wide angle close up full body upper body from above from below bokeh depth of field
""".split()
_STYLES = """digital painting oil painting watercolor illustration concept art matte painting
photograph photorealistic anime manga cel shading pixel art low poly 3d render octane
unreal engine ink sketch charcoal pastel gouache impressionism art nouveau baroque
cyberpunk steampunk solarpunk fantasy sci-fi noir vaporwave synthwave ukiyo-e""".split()
_ARTISTS = """rutkowski mucha artgerm loish ghibli miyazaki moebius giger beksinski turner
monet hokusai sargent whistler leyendecker rockwell frazetta mignola kinkade""".split()
_QUALITY = """masterpiece best quality highly detailed sharp focus 8k 4k hdr trending on
artstation award winning ultra detailed high resolution professional""".split()
_NEGATIVES = [
    "blurry, lowres, bad anatomy, bad hands, extra fingers, watermark, text",
    "ugly, deformed, disfigured, poorly drawn face, mutation, extra limbs",
    "worst quality, low quality, jpeg artifacts, signature, username",
    "nsfw, cropped, out of frame, duplicate",
    "",
    "",
]
_MODELS = ["sd15", "dreamshaper-8", "realistic-vision-v5", "anything-v5", "deliberate-v2",
           "sdxl-base", "juggernaut-xl", "revanimated"]  # fmt: skip
_LORAS = [f"{name}_v{v}" for name in ("pixelart", "watercolour", "papercut", "clay", "neon",
          "lineart", "chibi", "gothic", "film_grain", "detail_tweaker") for v in (1, 2)]  # fmt: skip
_MODES = ["txt2img"] * 5 + ["img2img"] * 2 + ["inpaint"] * 3 + ["outpaint"]


def _vocabulary(rng: random.Random) -> list[str]:
    """The named words plus invented ones (rare names, places), about 4,000 in all."""
    words = sorted({*_SUBJECTS, *_DETAILS, *_STYLES, *_ARTISTS, *_QUALITY})
    # Letters drawn by their English frequency: invented words share prefixes about as
    # often as real ones do (a made-up syllable alphabet would make every prefix common).
    letters = "eeeeeeeeeeeettttttttaaaaaaaaooooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrrddddlllluuucccmmwwffggyyppbbvkjxqz"
    known = set(words)
    while len(words) < 4000:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
        if word not in known:
            known.add(word)
            words.append(word)
    return words


class PromptMaker:
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary(self.rng)
        # Zipf weights: a few words everywhere ("detailed"), most rare.
        weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(self.words))]
        self.cum_weights = list(itertools.accumulate(weights))
        self.rng.shuffle(self.words)

    def prompt(self) -> str:
        rng = self.rng
        n = rng.randint(5, 40)
        chunks = [f"a {rng.choice(_DETAILS)} {rng.choice(_SUBJECTS)}"]
        used = 3
        while used < n:
            k = min(rng.randint(1, 4), n - used)
            if rng.random() < 0.25:
                chunk = [rng.choice(_STYLES + _QUALITY)]
                if rng.random() < 0.3 and n - used >= 2:
                    chunk = ["by", rng.choice(_ARTISTS)]
            else:
                chunk = rng.choices(self.words, cum_weights=self.cum_weights, k=k)
            chunks.append(" ".join(chunk))
            used += len(chunk)
        return ", ".join(chunks)


def realistic_picture(size: int = 512, seed: int = 0) -> np.ndarray:
    """Detail at every scale (summed noise octaves), which compresses like a generated
    picture rather than like a flat test card."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((size, size, 3), np.float32)
    cell = 4
    while cell <= size:
        small = rng.normal(0, 1, (size // cell + 1, size // cell + 1, 3)).astype(np.float32)
        acc += np.repeat(np.repeat(small, cell, 0), cell, 1)[:size, :size] * math.sqrt(cell)
        cell *= 2
    acc = (acc - acc.min()) / (acc.max() - acc.min()) * 255
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = acc.astype(np.uint8)
    rgba[..., 3] = 255
    return rgba


def build_history(path: Path, n: int, thumbnail: bytes, seed: int = 0) -> list[tuple]:
    """A history file of ``n`` entries written in one transaction; per entry (prompt,
    model, mode, created, kept), to draw queries that hit from."""
    from engine.history.store import HistoryStore
    from engine.request import GenerationRequest

    store = HistoryStore(path)
    assert store.count() == 0, store.take_warning()
    conn = store._connect()
    maker = PromptMaker(seed)
    rng = maker.rng
    now = time.time()
    entries: list[tuple] = []
    rows = []
    for i in range(1, n + 1):
        prompt = maker.prompt()
        loras = tuple((name, 0.8) for name in rng.sample(_LORAS, rng.choice((0, 0, 0, 1, 2))))
        req = GenerationRequest(
            mode=rng.choice(_MODES),
            prompt=prompt,
            negative_prompt=rng.choice(_NEGATIVES),
            model=rng.choice(_MODELS),
            seed=rng.randrange(2**31),
            loras=loras,
        )
        created = now - 365 * 86400 * (1 - i / n)  # oldest first, like real use
        kept = rng.random() < 0.2
        entries.append((prompt, req.model, req.mode, created, kept))
        rows.append(
            (i, created, req.to_json(), req.prompt, req.negative_prompt, req.model,
             " ".join(name for name, _ in loras), req.seed, 512, 512, req.mode,
             f"/home/user/Pictures/overpaint/{i:06d}.png" if rng.random() < 0.3 else None,
             int(kept))
        )  # fmt: skip
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO generations (id, created, request, prompt, negative_prompt, model, loras, "
        "seed, width, height, mode, path, kept) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO thumbnails (id, data) VALUES (?, ?)", ((i, thumbnail) for i in range(1, n + 1))
    )
    conn.execute("COMMIT")
    conn.execute("INSERT INTO generations_fts(generations_fts) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return entries


def _queries(entries: list[tuple], count: int, seed: int = 1) -> dict[str, list[dict]]:
    """Query sets: one word, three words, a prefix, all from one real entry, every other
    one with a filter that entry passes (so filtered queries find something too)."""
    import re

    rng = random.Random(seed)
    sets: dict[str, list[dict]] = {"one word": [], "three words": [], "prefix (as you type)": []}
    for i in range(count):
        prompt, model, mode, created, kept = rng.choice(entries)
        filt = [
            {},
            {"since": created - 30 * 86400},
            {"model": model},
            {},
            {"mode": mode},
            {},
            {"kept_only": True} if kept else {"until": created + 86400},
            {},
            {"since": created - 90 * 86400, "until": created + 1, "model": model},
        ][i % 9]
        words = [w for w in re.findall(r"\w+", prompt) if len(w) > 2]
        sets["one word"].append({"query": rng.choice(words), **filt})
        sets["three words"].append(
            {"query": " ".join(rng.sample(words, min(3, len(words)))), **filt}
        )
        word = rng.choice(words)
        sets["prefix (as you type)"].append(
            {"query": word[: max(3, len(word) - 2)], "prefix_last": True, **filt}
        )
    return sets


def _db_bytes(path: Path) -> int:
    return sum(
        Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
    )


def measure_p16(ctx: Context) -> Result:
    from engine.history.store import HistoryStore
    from engine.history.thumbnails import make_thumbnail

    n = ENTRIES.get(ctx.profile.name, DEFAULT_ENTRIES)
    path = ctx.work / "history-p16.sqlite3"
    if path.exists():
        path.unlink()
    thumb = make_thumbnail(realistic_picture())
    t0 = time.perf_counter()
    entries = build_history(path, n, thumb)
    build_s = time.perf_counter() - t0
    size = _db_bytes(path)
    store = HistoryStore(path)
    sets = _queries(entries, QUERIES.get(ctx.profile.name, DEFAULT_QUERIES))
    for q in sets["one word"][:20]:  # warm the page cache, as a running editor would have
        store.search(**q, limit=LIMIT)
    timings: dict[str, list[float]] = {k: [] for k in sets}
    hits: dict[str, list[int]] = {k: [] for k in sets}
    filtered: dict[str, list[float]] = {k: [] for k in sets}
    for i in range(len(sets["one word"])):
        for kind, queries in sets.items():
            q = queries[i]
            t = time.perf_counter()
            found = store.search(**q, limit=LIMIT)
            dt = time.perf_counter() - t
            timings[kind].append(dt)
            hits[kind].append(len(found))
            if len(q) > 1 + ("prefix_last" in q):
                filtered[kind].append(dt)
    warning = store.take_warning()
    store.close()
    p99 = {k: percentile(v, 99) for k, v in timings.items()}
    value = max(p99["one word"], p99["three words"])
    ok = value <= P16_TARGET_S and warning is None
    prompt_words = [len(e[0].replace(",", " ").split()) for e in entries]
    detail = (
        f"{n:,} entries (prompts of {min(prompt_words)}-{max(prompt_words)} words, median "
        f"{median(prompt_words):.0f}), {len(timings['one word'])} queries per kind, limit "
        f"{LIMIT}, half of them with a filter: p99 one word {p99['one word'] * 1000:.1f} ms, "
        f"three words {p99['three words'] * 1000:.1f} ms (target ≤ {P16_TARGET_S * 1000:.0f} "
        f"ms); as-you-type prefix p99 {p99['prefix (as you type)'] * 1000:.1f} ms. "
        f"Database {size / 2**20:.1f} MiB, {size / n * 1000 / 2**20:.2f} MiB per 1,000 entries "
        f"(thumbnail {len(thumb)} bytes each), built in {build_s:.1f} s."
        + (f" Warning: {warning}" if warning else "")
    )
    extra = [
        f"{kind}: median {median(v) * 1000:.2f} ms, p99 {p99[kind] * 1000:.2f} ms, "
        f"max {max(v) * 1000:.2f} ms; filtered p99 {percentile(filtered[kind], 99) * 1000:.2f} "
        f"ms; median hits {median(hits[kind]):.0f}"
        for kind, v in timings.items()
    ]
    return Result("P16", "history search", value * 1000, f"p99 ≤ {P16_TARGET_S * 1000:.0f} ms",
                  ok, detail, extra)  # fmt: skip


def measure_p17(ctx: Context) -> Result:
    """Needs the P16 file (built here when P16 did not run)."""
    from engine.history.recorder import record_cli_results
    from engine.history.store import HistoryStore
    from engine.metadata import save_png
    from engine.request import GenerationRequest, GenerationResult

    path = ctx.work / "history-p16.sqlite3"
    if not path.exists():
        from engine.history.thumbnails import make_thumbnail

        build_history(path, ENTRIES.get(ctx.profile.name, DEFAULT_ENTRIES),
                      make_thumbnail(realistic_picture()))  # fmt: skip
    reps = {"smoke": 10}.get(ctx.profile.name, 200)
    maker = PromptMaker(seed=7)
    picture = realistic_picture(512, seed=3)
    out = ctx.work / "p17.png"
    store = HistoryStore(path)
    store.count()  # open and migrate outside the timing, as a running program has
    off: list[float] = []
    on: list[float] = []
    direct: list[float] = []
    before = store.count()
    for i in range(reps):
        req = GenerationRequest(mode="txt2img", prompt=maker.prompt(), seed=i, model="sd15")
        t = time.perf_counter()
        save_png(out, picture, "parameters", req)
        off.append(time.perf_counter() - t)
        result = GenerationResult(req, picture, 0, 0, req.seed, "parameters")
        t = time.perf_counter()
        save_png(out, picture, "parameters", req)
        r = time.perf_counter()
        record_cli_results([result], [out], store=store)
        done = time.perf_counter()
        on.append(done - t)
        direct.append(done - r)
    landed = store.count() - before
    warning = store.take_warning()
    store.close()
    added = median([b - a for a, b in zip(off, on, strict=True)])
    ok = added <= P17_TARGET_S and landed == reps and warning is None
    detail = (
        f"{reps} interleaved jobs (write a 512x512 PNG with its metadata) into a "
        f"{before:,}-entry history: median {median(off) * 1000:.1f} ms with history off, "
        f"{median(on) * 1000:.1f} ms on, {added * 1000:.2f} ms added (target ≤ "
        f"{P17_TARGET_S * 1000:.0f} ms). The hook alone: median {median(direct) * 1000:.2f} "
        f"ms, p95 {percentile(direct, 95) * 1000:.2f} ms, max {max(direct) * 1000:.1f} ms; "
        f"{landed}/{reps} recorded." + (f" Warning: {warning}" if warning else "")
    )
    return Result("P17", "history recording cost", added * 1000,
                  f"≤ {P17_TARGET_S * 1000:.0f} ms", ok, detail)  # fmt: skip


def main() -> None:
    """python -m tests.bench.history [--smoke]: both measures, printed."""
    import sys
    import tempfile

    from tests.bench.common import PROFILES

    profile = PROFILES["smoke" if "--smoke" in sys.argv else "quick"]
    with tempfile.TemporaryDirectory() as work:
        ctx = Context(profile, Path(work))
        for measure in (measure_p16, measure_p17):
            result = measure(ctx)
            print(f"{result.key} {result.title}: {result.value:.2f} (target {result.target}, "
                  f"ok={result.ok})\n  {result.detail}")  # fmt: skip
            for line in result.extra:
                print(" ", line)


if __name__ == "__main__":
    main()
