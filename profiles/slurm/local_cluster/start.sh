#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, to run the workflow through profiles/slurm against a real
# scheduler (CI does; so can a user checking the profile before a real cluster). Debian's slurm-wlm and
# munge, installed when missing (needs root and apt-get); one node on 127.0.0.1 with partitions `cpu` and
# `gpu` (the profile's names; no GPUs: GPU jobs stay pending), no cgroups, no accounting database.
#   profiles/slurm/local_cluster/start.sh && ... && profiles/slurm/local_cluster/stop.sh
# State, spool and logs under $IBBENCH_SLURM_STATE (default .slurm_local/ in the repository, ignored by
# git). Exits non-zero, saying why, when the cluster cannot be started.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
STATE=${IBBENCH_SLURM_STATE:-$REPO_ROOT/.slurm_local}
have() { command -v "$1" >/dev/null 2>&1; }
say() { echo "local SLURM: $*" >&2; }

if ! have slurmctld || ! have slurmd || ! have sbatch || ! have munged; then
  if [ "$(id -u)" != 0 ] || ! have apt-get; then
    say "slurm-wlm and munge are not installed, and installing them needs root and apt-get"; exit 1
  fi
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null; }
fi
[ "$(id -u)" = 0 ] || { say "needs root (slurm.conf in /etc/slurm, munged as the munge user)"; exit 1; }

# munge: the authentication every SLURM daemon and client uses (no systemd: started by hand)
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
[ -s /etc/munge/munge.key ] || head -c 1024 /dev/urandom > /etc/munge/munge.key
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

# slurm.conf for this host: the hardware line slurmd detects, with memory below what it reports
mkdir -p "$STATE"/spool "$STATE"/state "$STATE"/log /etc/slurm
HOST=$(hostname -s)
HW=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ UpTime=.*//')
MEM=$(echo "$HW" | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
HW=$(echo "$HW" | sed "s/RealMemory=[0-9]*/RealMemory=$((MEM * 9 / 10))/")
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ibbench
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MailProg=/bin/true
MinJobAge=300
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmdSpoolDir=$STATE/spool
StateSaveLocation=$STATE/state
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do
  if [ "$(sinfo -h -N -o %T 2>/dev/null | head -1)" = idle ]; then
    say "node $HOST idle (partitions cpu, gpu; logs in $STATE/log)"; exit 0
  fi
  sleep 1
done
say "the node did not come up within 60 s; see $STATE/log"; sinfo -N >&2 || true; exit 1
