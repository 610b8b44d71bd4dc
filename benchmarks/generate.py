"""Generation speed as a user sees it: whole processes, interleaved, CPU and wall seconds and peak RSS.

Contenders, each a fresh child process writing 100,000 es_ES profiles as JSON lines into a pipe this script
drains (so every one pays for the same output path):
  cli     `azt3knet populate --preview --count N --seed 1 --country ES --format jsonl --generator-version V`
          (V = 2 by default, the generator new populations get; `--generator-version 1` measures v1)
  faker   a per-row Faker loop of 7 fields (given/family name by gender, gender, age, city, username,
          e-mail local part), `json.dumps` per row
  mimesis the same 7 fields with Mimesis (`pip install -e '.[bench]'`; skipped when missing)
Rounds run A B C A B C …; each figure is the median over rounds (CPU = user + system of the child, from
wait4; peak RSS = the child's ru_maxrss). Then 1,000,000 profiles streamed to a file (peak RSS, CPU against
the 100,000 run), and the latency of `azt3knet --help` and of a 5-profile preview.

Every contender imports from compiled bytecode, as after `pip install` (which compiles at install time): an
environment installed without it (uv's default) under PYTHONDONTWRITEBYTECODE=1 would recompile every imported
module in every process (about a second of start-up for the CLI, less for the loops), so the script compiles
site-packages and the package first (`--no-compile` to skip; up-to-date files are left alone).

Usage: python benchmarks/generate.py [--count 100000] [--rounds 3] [--big 1000000] [--latency-runs 7]
       [--generator-version 2] [--no-compile]
Nothing here asserts a time: it prints figures and whether the issue-11 targets were met on this run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FAKER_LOOP = """
import json, random, sys
from faker import Faker
count = int(sys.argv[1])
fake = Faker("es_ES")
fake.seed_instance(1)
rng = random.Random(1)
out = sys.stdout
seen = set()
for i in range(count):
    gender = rng.choice(("female", "male", "non_binary"))
    if gender == "female":
        given = fake.first_name_female()
    elif gender == "male":
        given = fake.first_name_male()
    else:
        given = fake.first_name()
    family = fake.last_name()
    local = f"{given}.{family}".lower()
    while local in seen:
        local += str(rng.randint(0, 9))
    seen.add(local)
    row = {"given_name": given, "family_name": family, "gender": gender, "age": rng.randint(18, 65),
           "city": fake.city(), "username": fake.user_name(), "email_local_part": local}
    out.write(json.dumps(row, ensure_ascii=False) + "\\n")
"""

MIMESIS_LOOP = """
import json, random, sys
from mimesis import Address, Gender, Person
from mimesis.locales import Locale
count = int(sys.argv[1])
person = Person(Locale.ES, seed=1)
address = Address(Locale.ES, seed=1)
rng = random.Random(1)
out = sys.stdout
seen = set()
genders = {"female": Gender.FEMALE, "male": Gender.MALE}
for i in range(count):
    gender = rng.choice(("female", "male", "non_binary"))
    given = person.first_name(genders.get(gender))
    family = person.last_name()
    local = f"{given}.{family}".lower()
    while local in seen:
        local += str(rng.randint(0, 9))
    seen.add(local)
    row = {"given_name": given, "family_name": family, "gender": gender, "age": rng.randint(18, 65),
           "city": address.city(), "username": person.username(), "email_local_part": local}
    out.write(json.dumps(row, ensure_ascii=False) + "\\n")
"""


@dataclass
class Sample:
    cpu: float
    wall: float
    rss_mib: float
    out_bytes: int


def cli() -> list[str]:
    """The installed console script, as a user would run it."""
    script = Path(sys.executable).with_name("azt3knet")
    if script.exists():
        return [str(script)]
    found = shutil.which("azt3knet")
    return [found] if found else [sys.executable, "-m", "azt3knet_pipeline.cli.app"]


def run(argv: list[str], *, env: dict[str, str] | None = None, stdout_path: Path | None = None) -> Sample:
    """Run one child to completion; its own CPU and peak RSS come from wait4 (not this process's)."""
    start = time.perf_counter()
    sink = open(stdout_path, "wb") if stdout_path else subprocess.PIPE  # noqa: SIM115
    proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL, env=env)
    out_bytes = 0
    if stdout_path is None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            out_bytes += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path is not None:
        sink.close()  # type: ignore[union-attr]
        out_bytes = stdout_path.stat().st_size
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]}… exited {proc.returncode}")
    return Sample(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, out_bytes)


def median(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(s, field) for s in samples)


def compile_bytecode() -> None:
    """Compile site-packages and the package as pip does at install time (no-op where already compiled)."""
    import compileall
    import sysconfig

    import azt3knet_pipeline

    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    paths.add(str(Path(azt3knet_pipeline.__file__).parent))
    for path in sorted(paths):
        compileall.compile_dir(path, quiet=1, workers=0)


def has_mimesis() -> bool:
    return subprocess.run([sys.executable, "-c", "import mimesis"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=1_000_000, help="profiles streamed to a file (0: skip)")
    parser.add_argument("--latency-runs", type=int, default=7)
    parser.add_argument(
        "--generator-version", type=int, default=2, help="generator the CLI runs (new populations get the latest)"
    )
    parser.add_argument("--no-compile", action="store_true", help="do not compile bytecode first")
    args = parser.parse_args()
    if not args.no_compile:
        compile_bytecode()

    env = {**os.environ, "AZT3KNET_MAX_POPULATION": str(max(args.count, args.big))}
    with tempfile.TemporaryDirectory(prefix="azt3knet-bench-") as tmp:
        env["AZT3KNET_HOME"] = str(Path(tmp) / "home")  # a preview writes nothing; make sure it is nowhere real
        n = str(args.count)
        contenders = {
            "cli": [
                *cli(),
                "populate",
                "--preview",
                "--count",
                n,
                "--seed",
                "1",
                "--country",
                "ES",
                "--format",
                "jsonl",
                "--generator-version",
                str(args.generator_version),
            ],
            "faker": [sys.executable, "-c", FAKER_LOOP, n],
        }
        if has_mimesis():
            contenders["mimesis"] = [sys.executable, "-c", MIMESIS_LOOP, n]
        else:
            print("mimesis not installed (pip install -e '.[bench]'): its loop is skipped", file=sys.stderr)
        results: dict[str, list[Sample]] = {name: [] for name in contenders}
        for round_no in range(args.rounds):
            for name, argv in contenders.items():
                results[name].append(run(argv, env=env))
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

        print(f"{args.count:,} es_ES profiles as JSON lines into a pipe; medians of {args.rounds} interleaved rounds")
        print(f"{'':8} {'CPU s':>8} {'wall s':>8} {'peak RSS MiB':>13} {'output MB':>10}")
        for name, samples in results.items():
            print(
                f"{name:8} {median(samples, 'cpu'):8.2f} {median(samples, 'wall'):8.2f} "
                f"{median(samples, 'rss_mib'):13.1f} {median(samples, 'out_bytes') / 1e6:10.1f}"
            )
        cli_cpu = median(results["cli"], "cpu")
        cli_rss = median(results["cli"], "rss_mib")
        faker_ratio = median(results["faker"], "cpu") / cli_cpu
        print(f"CPU ratio: faker/cli {faker_ratio:.1f}x", end="")
        mimesis_ratio = None
        if "mimesis" in results:
            mimesis_ratio = median(results["mimesis"], "cpu") / cli_cpu
            print(f", mimesis/cli {mimesis_ratio:.1f}x", end="")
        print()

        big = None
        if args.big:
            argv = [*contenders["cli"]]
            argv[argv.index("--count") + 1] = str(args.big)
            big = run(argv, env=env, stdout_path=Path(tmp) / "big.jsonl")
            print(
                f"{args.big:,} profiles streamed to a file: CPU {big.cpu:.2f} s ({big.cpu / cli_cpu:.1f}x the "
                f"{args.count:,} run), wall {big.wall:.2f} s, peak RSS {big.rss_mib:.1f} MiB, "
                f"{big.out_bytes / 1e6:.0f} MB"
            )

        help_samples: list[Sample] = []
        preview_samples: list[Sample] = []
        preview_argv = [*cli(), "populate", "--preview", "--count", "5", "--seed", "42", "--country", "ES"]
        preview_argv += ["--generator-version", str(args.generator_version)]
        for _ in range(args.latency_runs):
            help_samples.append(run([*cli(), "--help"], env=env))
            preview_samples.append(run(preview_argv, env=env))
        print(
            f"latency (median of {args.latency_runs}): `azt3knet --help` {median(help_samples, 'wall'):.3f} s wall "
            f"({median(help_samples, 'cpu'):.3f} s CPU); `populate --preview --count 5 --seed 42 --country ES` "
            f"{median(preview_samples, 'wall'):.3f} s wall ({median(preview_samples, 'cpu'):.3f} s CPU)"
        )

    def verdict(ok: bool) -> str:
        return "OK" if ok else "MISSED"

    print("targets (issue 11):")
    print(f"  100k: >=6x less CPU than faker: {faker_ratio:.1f}x {verdict(faker_ratio >= 6)}")
    if mimesis_ratio is not None:
        print(f"  100k: >=2x less CPU than mimesis: {mimesis_ratio:.1f}x {verdict(mimesis_ratio >= 2)}")
    print(f"  100k: peak RSS < 200 MiB: {cli_rss:.1f} {verdict(cli_rss < 200)}")
    if big is not None:
        print(f"  {args.big:,}: peak RSS < 300 MiB: {big.rss_mib:.1f} {verdict(big.rss_mib < 300)}")
        within = big.cpu / cli_cpu
        print(f"  {args.big:,}: CPU within 12x of the {args.count:,} run: {within:.1f}x {verdict(within <= 12)}")
    print(f"  --help < 0.4 s wall: {median(help_samples, 'wall'):.3f} {verdict(median(help_samples, 'wall') < 0.4)}")
    print(
        f"  5-profile preview < 0.8 s wall: {median(preview_samples, 'wall'):.3f} "
        f"{verdict(median(preview_samples, 'wall') < 0.8)}"
    )
    print(f"  (load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
