#!/usr/bin/env bash
# The README's main command: set up .venv if needed, then depthbench's main job. It evaluates every reference policy
# shipped in depthbench/references (trained by this project; `depthbench references list`) on held-out episodes,
# clean and under Kinect v1 noise, prints the results table with 95% CIs, writes it (markdown, CSV, PNG) to
# runs/main/leaderboard and an episode video of the first policy to runs/main/. A few minutes on 2 CPU cores.
# Extra arguments go to every `depthbench eval` (e.g. --episodes 50 for a quicker look).
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
out=runs/main
python -m depthbench references list
mapfile -t names < <(python - <<'PY'
import json, subprocess, sys
listing = json.loads(subprocess.run([sys.executable, "-m", "depthbench", "references", "list", "--json"],
                                    check=True, capture_output=True, text=True).stdout)
for ref in listing["references"]:  # privileged teachers see no depth: clean only; depth policies clean and noisy
    noises = ["clean"] if ref["role"] == "teacher" else ["clean", "kinect-v1"]
    print(f"{ref['task']}/{ref['role']} {' '.join(noises)}")
PY
)
if [ "${#names[@]}" -eq 0 ]; then
  echo "depthbench: error: no reference policies are shipped in this checkout" >&2
  exit 2
fi
video=2
for entry in "${names[@]}"; do
  read -r name noises <<<"$entry"
  for noise in $noises; do
    args=(--checkpoint "reference:$name" --episodes 100 --eval-noise "$noise" --out "$out/${name/\//-}/$noise-test.json")
    if [ "${name##*/}" = teacher ]; then
      args+=(--deterministic)  # greedy, as its stored evaluation and the students' teacher rollouts
    fi
    if [ "$video" -gt 0 ] && [ "$noise" != clean ]; then
      args+=(--video "$video")  # clean and noisy depth side by side, the map, success / SPL
      video=0
    fi
    python -m depthbench eval "${name%%/*}" "${args[@]}" "$@"
  done
done
python -m depthbench leaderboard "$out" --out "$out/leaderboard"
ls "$out"/*/*.mp4
