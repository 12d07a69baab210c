#!/usr/bin/env python3
"""docker/ names things in the tree that no test here can run (no Docker engine): check each
against the tree. `docker_check.py ROOT BIN` exits 1 listing what does not match."""
import json
import os
import re
import subprocess
import sys

ROOT, BIN = sys.argv[1], sys.argv[2]
problems = []


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def check(ok, what):
    if not ok:
        problems.append(what)


def options():
    """Every option name ecowarnd knows, from its --help."""
    out = subprocess.run([os.path.join(BIN, "ecowarnd"), "--help"], capture_output=True,
                         text=True).stdout
    return set(re.findall(r"^  ([a-z_]+(?:\.[a-z_]+)+)\s", out, re.M))


def env_of(name):
    return "ECOWARN_" + name.replace(".", "_").upper()


def metrics():
    """Every metric the daemon exports (pipeline/ew_metrics.c)."""
    names = set(re.findall(r'"(ecowarn_[a-z_]+)"', read("pipeline", "ew_metrics.c")))
    for n in list(names):
        names |= {n + s for s in ("_bucket", "_sum", "_count")}
    return names


OPTIONS = {env_of(n) for n in options()}
METRICS = metrics()
deb = read("scripts", "deb.sh")

# ---- Dockerfile ----
df = read("docker", "Dockerfile")
for src in re.findall(r"^COPY (?!--from)(.+) \S+$", df, re.M):
    for path in src.split():
        check(os.path.exists(os.path.join(ROOT, path)), f"Dockerfile copies {path}: not in the tree")
for top in ("CMakeLists.txt",):
    for sub in re.findall(r"add_subdirectory\((\w+)\)", read(top)):
        if sub != "tests":
            check(re.search(rf"^COPY {sub} {sub}$", df, re.M),
                  f"Dockerfile does not copy {sub}/, which CMakeLists.txt builds")
deps = read("scripts", "deps.sh")
build_pkgs = re.search(r"build_pkgs=\(([^)]*)\)", deps).group(1).split()
for p in build_pkgs:
    if p.endswith("-dev") and p != "libcmocka-dev":
        check(p in df, f"Dockerfile's build stage lacks {p} (scripts/deps.sh builds with it)")
check("scripts/deb.sh" in df, "Dockerfile does not build with scripts/deb.sh")
for path in re.findall(r'"(/(?:usr|etc)/[^"]+)"', df):
    check(path.split("/")[-1] in deb or path.rsplit("/", 1)[0] in deb,
          f"Dockerfile runs {path}: scripts/deb.sh installs no such path")
for name in re.findall(r"\b(ECOWARN_[A-Z0-9_]+)=", df):
    check(name in OPTIONS, f"Dockerfile sets {name}: no such option")
listen = re.search(r"ECOWARN_HTTP_LISTEN=[\d.]+:(\d+)", df).group(1)
check(f"EXPOSE {listen}" in df, "Dockerfile exposes another port than it listens on")
check(f"127.0.0.1:{listen}/health" in df, "Dockerfile's health check asks another port")
check('"/health"' in read("cmd", "ecowarnd.c"), "ecowarnd serves no /health")

# ---- compose.yaml ----
cf = read("docker", "compose.yaml")
check(re.search(r"context: \.\.\n\s+dockerfile: docker/Dockerfile", cf) is not None,
      "compose.yaml builds from elsewhere than docker/Dockerfile")
for name in re.findall(r"^\s+(ECOWARN_[A-Z0-9_]+):", cf, re.M):
    check(name in OPTIONS, f"compose.yaml sets {name}: no such option")
for ref in re.findall(r"\$\$\{(\w+)\}", cf):  # ecowarnd expands these: each must be given
    check(re.search(rf"^\s+{ref}: ", cf, re.M), f"compose.yaml names ${{{ref}}} and sets no {ref}")
advertised = re.search(r"KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://([\w:]+)", cf).group(1)
check(f"ECOWARN_KAFKA_BROKERS: {advertised}" in cf, "ecowarnd is not given Kafka's address")
check(f'"{listen}:{listen}"' in cf, "compose.yaml publishes another port than ecowarnd listens on")
sim = json.loads("[" + re.search(r"entrypoint: \[([^\]]*)\]", cf).group(1) + "]")
check(sim[0] == "/usr/bin/ecowarn-sim" and "/usr/bin" in deb and "ecowarn-sim" in deb,
      "compose.yaml runs a simulator the package does not install")
check(sim[sim.index("--brokers") + 1] == advertised, "the simulator is not given Kafka's address")
args = sim[1:]
i = args.index("--brokers")
args = args[:i] + args[i + 2:]  # to stdout, an hour at full speed: its options are checked
args[args.index("--duration") + 1] = "1h"
if "--rate" in args:
    args[args.index("--rate") + 1] = "0"
r = subprocess.run([os.path.join(BIN, "ecowarn-sim")] + args, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, text=True, timeout=120)
check(r.returncode == 0, f"ecowarn-sim refuses the compose file's arguments: {r.stderr[-300:]}")

# ---- Prometheus alerts, Grafana, and OPERATING.md's table of them ----
alerts = read("docker", "prometheus", "ecowarn-alerts.yml")
for m in set(re.findall(r"\b(ecowarn_[a-z_]+)", alerts)):
    check(m in METRICS, f"ecowarn-alerts.yml uses {m}: ecowarnd exports no such metric")
names = re.findall(r"- alert: (\w+)", alerts)
guide = read("OPERATING.md")
for n in names:
    check(f"| {n} |" in guide, f"OPERATING.md does not list the alert {n}")
for n in re.findall(r"^\| (Ecowarn\w+) \|", guide, re.M):
    check(n in names, f"OPERATING.md lists {n}: not in ecowarn-alerts.yml")
grafana = json.loads(read("docker", "grafana", "ecowarn.json"))
exprs = [t["expr"] for p in grafana["panels"] for t in p.get("targets", [])]
check(exprs, "the Grafana dashboard has no query")
for m in set(re.findall(r"\b(ecowarn_[a-z_]+)", " ".join(exprs))):
    check(m in METRICS, f"grafana/ecowarn.json uses {m}: ecowarnd exports no such metric")

if problems:
    sys.exit("docker/ and the tree disagree:\n  " + "\n  ".join(problems))
print(f"docker/: {len(names)} alerts, {len(exprs)} Grafana queries, Dockerfile and compose.yaml "
      "match the tree")
