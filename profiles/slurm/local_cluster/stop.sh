#!/usr/bin/env bash
# Stop the one-node SLURM cluster of start.sh: cancel its jobs, stop slurmd, slurmctld and munged.
set -uo pipefail
scancel --user="$(id -un)" >/dev/null 2>&1 || true
for d in slurmd slurmctld munged; do pkill -x "$d" 2>/dev/null || true; done
for _ in $(seq 20); do pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || exit 0; sleep 0.5; done
pkill -9 -x slurmd 2>/dev/null; pkill -9 -x slurmctld 2>/dev/null; exit 0
