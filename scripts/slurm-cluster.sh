#!/usr/bin/env bash
# Starts a private one-node SLURM cluster on this machine for the sweep tests (rdarts sweep --slurm):
# installs Debian's slurm-wlm daemons and munge if missing, writes a configuration of its own into
# DIR (default /tmp/rdarts-slurm: state, spool, logs and pid files all there; ports 6917/6918, so a
# real cluster's daemons on the default ports are left alone), starts munged, slurmctld and slurmd
# unless they already run, and waits until the node is idle. Prints the configuration's path on
# stdout (test.sh exports it as SLURM_CONF, which sbatch, squeue and scancel read); everything else
# goes to stderr. Needs root (or sudo): slurmd launches the jobs. Stop it with: DIR/stop.sh
set -euo pipefail
DIR=${1:-${RDARTS_SLURM_DIR:-/tmp/rdarts-slurm}}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
log() { echo "slurm-cluster: $*" >&2; }

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  log "installing slurmctld, slurmd, slurm-client and munge (Debian packages)"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >&2
fi

# munge authenticates slurmctld, slurmd and the clients to one another (one key, this machine).
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    $SUDO mkdir -p /etc/munge
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1k count=1 status=none
    $SUDO chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    $SUDO chmod 400 /etc/munge/munge.key
  fi
  $SUDO mkdir -p /run/munge /var/log/munge /var/lib/munge
  $SUDO chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    $SUDO runuser -u munge -- /usr/sbin/munged >&2
  else
    $SUDO /usr/sbin/munged --force >&2
  fi
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { log "munged does not answer"; exit 1; }
fi

node=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
conf="$DIR/slurm.conf"
cat > "$conf.new" <<EOF
# A private one-node cluster for rdarts' tests (written by scripts/slurm-cluster.sh).
ClusterName=rdarts-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
mv "$conf.new" "$conf"
cat > "$DIR/stop.sh" <<EOF
#!/usr/bin/env bash
# Stops the test cluster's daemons (not munged, which other programs may use).
for p in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do [ -s "\$p" ] && kill "\$(cat "\$p")" 2>/dev/null || true; done
EOF
chmod +x "$DIR/stop.sh"
export SLURM_CONF="$conf"

# A daemon runs when its pid file names a live process of that name: a pid file left in DIR by a
# machine that has since restarted may name some other process, which must not count.
running() { [ -s "$DIR/$1.pid" ] && [ "$(cat "/proc/$(cat "$DIR/$1.pid")/comm" 2>/dev/null)" = "$1" ]; }
if ! running slurmctld; then
  log "starting slurmctld ($conf)"
  $SUDO env SLURM_CONF="$conf" /usr/sbin/slurmctld -f "$conf" >&2
fi
if ! running slurmd; then
  log "starting slurmd (node $node, $cpus CPUs)"
  $SUDO env SLURM_CONF="$conf" /usr/sbin/slurmd -f "$conf" -N "$node" >&2
fi
# Wait for the node to report in (60 s: slurmctld and slurmd start slowly on a loaded machine). A
# node that an earlier run left down or drained is resumed once.
state=""; resumed=""
for _ in $(seq 200); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  case "$state" in
    idle|mixed|allocated) break ;;
    down*|drain*|fail*)
      if [ -z "$resumed" ]; then
        log "node $node is '$state'; resuming it"
        $SUDO env SLURM_CONF="$conf" scontrol update NodeName="$node" State=RESUME >&2 || true
        resumed=1
      fi ;;
  esac
  sleep 0.3
done
case "$state" in
  idle|mixed|allocated) log "node $node is $state" ;;
  *)
    log "node $node is '${state:-not reported}' after 60 s; the daemons' last messages:"
    for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log"; do
      [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1 ;;
esac
echo "$conf"
