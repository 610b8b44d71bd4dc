"""Generation speed: the vectorised generator vs a per-row Faker loop producing the same fields.

Prints seconds, profiles/s and peak RSS for each (each measured in a fresh subprocess so peaks don't mix),
and the speed ratio. Usage: python benchmarks/generate.py [--count 100000] [--loop-count 20000]
The per-row loop is timed on --loop-count rows and extrapolated linearly to --count (it is linear).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

VECTORISED = """
import json, resource, sys, time
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.domain.generation import generate_population
count = int(sys.argv[1])
t0 = time.perf_counter()
population = generate_population(PopulationSpec(count=count, seed=2026, country="ES"))
digest = population.content_hash
elapsed = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "rows": count, "rss_mb": rss_mb, "hash": digest[:12]}))
"""

PER_ROW_FAKER = """
import json, random, resource, sys, time, uuid
from faker import Faker
from azt3knet_pipeline.domain.text import offline_bio
from azt3knet_pipeline.domain.generation import INTEREST_CATALOGUE, TONES, POSTING_CADENCES, BEHAVIORAL_BIASES
count = int(sys.argv[1])
t0 = time.perf_counter()
fake = Faker("es_ES")
fake.seed_instance(2026)
rng = random.Random(2026)
rows, seen_user, seen_local = [], set(), set()
for i in range(count):
    gender = rng.choice(["female", "male", "non_binary"])
    if gender == "female":
        given = fake.first_name_female()
    elif gender == "male":
        given = fake.first_name_male()
    else:
        given = fake.first_name()
    family = fake.last_name()
    age = rng.randint(18, 65)
    city = fake.city() if hasattr(fake, "city") else "Madrid"
    interests = sorted(rng.sample(INTEREST_CATALOGUE, rng.randint(1, 3)))
    tone = rng.choice(TONES)
    user = fake.user_name()
    while user in seen_user:
        user += str(rng.randint(0, 9))
    seen_user.add(user)
    local = f"{given}.{family}".lower()
    while local in seen_local:
        local += str(rng.randint(0, 9))
    seen_local.add(local)
    rows.append({"id": str(uuid.uuid4()), "index": i, "given_name": given, "family_name": family,
                 "display_name": f"{given} {family}", "username": user, "email_local_part": local,
                 "gender": gender, "age": age, "birth_year": 2026 - age, "country": "ES", "city": city,
                 "locale": "es_ES", "timezone": fake.timezone(), "interests": interests,
                 "bio": offline_bio(given, age, city, interests, tone, rng.getrandbits(62)),
                 "posting_cadence": rng.choice(POSTING_CADENCES), "tone": tone,
                 "behavioral_biases": sorted(rng.sample(BEHAVIORAL_BIASES, 2)), "synthetic": True})
blob = json.dumps(rows, sort_keys=True)
elapsed = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "rows": count, "rss_mb": rss_mb}))
"""


def run(script: str, count: int) -> dict:
    output = subprocess.run([sys.executable, "-c", script, str(count)], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--loop-count", type=int, default=20_000)
    args = parser.parse_args()

    vec = run(VECTORISED, args.count)
    loop = run(PER_ROW_FAKER, args.loop_count)
    loop_seconds = loop["seconds"] * args.count / args.loop_count
    print(f"profiles: {args.count:,} (es_ES, content hash {vec['hash']}…, canonical JSON + sha256 included)")
    print(
        f"vectorised : {vec['seconds']:7.2f} s  {args.count / vec['seconds']:10,.0f} profiles/s  "
        f"peak RSS {vec['rss_mb']:7.1f} MB"
    )
    print(
        f"per-row    : {loop_seconds:7.2f} s  {args.count / loop_seconds:10,.0f} profiles/s  "
        f"peak RSS {loop['rss_mb']:7.1f} MB  (measured on {args.loop_count:,} rows, extrapolated)"
    )
    print(f"ratio      : {loop_seconds / vec['seconds']:.1f}x faster than the per-row Faker loop")
    print(
        f"targets    : <5 s {'OK' if vec['seconds'] < 5 else 'MISSED'}, <500 MB "
        f"{'OK' if vec['rss_mb'] < 500 else 'MISSED'}, >=3x {'OK' if loop_seconds / vec['seconds'] >= 3 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
