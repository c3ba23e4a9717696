#!/bin/sh
# Checks, on a real FreeBSD builder host, what kiln's tests could only prove against a stand-in
# (docs/freebsd.md, "What needs a real FreeBSD host"). Run as root after pot-templates/create-template.sh:
#   sh scripts/verify-freebsd.sh [TEMPLATE] [USER] [LOOPBACK_NET]
# (defaults kiln-build, kiln, 127.0.2). It makes one pot the way the builder does
# (builders/freebsd/pot-commands.ts), checks each point, prints PASS/FAIL per check, destroys the
# pot, and exits 1 if any check failed.
set -u
template=${1:-kiln-build}
user=${2:-kiln}
net=${3:-127.0.2}
pot=kiln-verify-0-$$
ip="$net.250"
job=$(mktemp -d /tmp/kiln-verify.XXXXXX)
failed=0

pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failed=1; }
check() { # check "what" command...: PASS when the command succeeds
	what=$1; shift
	if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
refuse() { # refuse "what" command...: PASS when the command fails
	what=$1; shift
	if "$@" >/dev/null 2>&1; then fail "$what"; else pass "$what"; fi
}
in_jail() { pot exec -p "$pot" -U "$user" /bin/sh -c "$1"; }
cleanup() {
	pkill -KILL -j "$pot" 2>/dev/null
	pot stop -p "$pot" >/dev/null 2>&1
	pot destroy -F -p "$pot" >/dev/null 2>&1
	rctl -r "jail:$pot" 2>/dev/null
	rm -rf "$job"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
check "kern.racct.enable=1 (rctl limits are applied)" test "$(sysctl -n kern.racct.enable 2>/dev/null)" = 1
check "template pot $template exists" sh -c "pot ls -q | grep -qx '$template'"

# The pot as the pool makes it.
pot clone -p "$pot" -P "$template" -N alias -i "lo0|$ip" || { echo "FAIL  pot clone"; exit 1; }
pot snapshot -p "$pot" && pot start -p "$pot" && jail -m "name=$pot" allow.raw_sockets=0 ||
	{ echo "FAIL  pot snapshot/start/jail -m"; exit 1; }
chown "$(jexec "$pot" id -u "$user"):$(jexec "$pot" id -g "$user")" "$job"
pot mount-in -p "$pot" -d "$job" -m /job || fail "pot mount-in of the job directory"

# The job user is not root.
uid=$(in_jail 'id -u')
if [ -n "$uid" ] && [ "$uid" != 0 ]; then pass "job user $user is uid $uid, not root"; else fail "job user is root or missing ($uid)"; fi
refuse "the job user cannot become root (su)" in_jail 'su -m root -c true </dev/null'

# The job directory is the only writable place.
in_jail 'echo hi > /job/probe' >/dev/null 2>&1
if [ "$(cat "$job/probe" 2>/dev/null)" = hi ]; then pass "the job writes /job and the host sees it"; else fail "the job directory is not shared at /job"; fi
refuse "the job cannot write /etc" in_jail 'touch /etc/kiln-probe'

# No network: only its loopback alias; raw sockets off.
check "raw sockets off (jls allow.raw_sockets)" sh -c "jls -j '$pot' allow.raw_sockets | grep -qE '^(0|false)$'"
refuse "no raw socket even for root in the jail (ping)" jexec "$pot" ping -c 1 -t 2 "$ip"
addrs=$(jls -j "$pot" ip4.addr)
if [ "$addrs" = "$ip" ]; then pass "the jail's only address is $ip"; else fail "jail addresses: $addrs"; fi
gw=$(route -n get default 2>/dev/null | awk '/gateway:/ {print $2}')
[ -n "$gw" ] && refuse "no route out (nc to the default gateway $gw:53)" in_jail "nc -z -w 3 $gw 53"
# A host service listening on every address (a Redis bound to *) must not be reachable either:
# this needs the pf rules of docs/freebsd.md; without them this check fails.
port=$((20000 + $$ % 10000))
nc -l "$port" >/dev/null 2>&1 &
listener=$!
sleep 1
refuse "no host service reachable over lo0 (host listener on *:$port)" in_jail "nc -z -w 3 127.0.0.1 $port || nc -z -w 3 $ip $port"
kill "$listener" 2>/dev/null

# Disk quota: the job's limits.diskMiB as the ZFS quota of the pot's datasets (pot has no quota
# attribute; builders/freebsd/pot-commands.ts setQuota); with the template's no-tmpfs, the jail's
# /tmp is on them. Random data: zeros take no room on a compressed dataset.
dset="$(pot config -q -g zfs_root)/jails/$pot"
check "zfs set quota=64M $dset (the pot's datasets)" zfs set quota=64M "$dset"
refuse "/tmp in the jail is not a tmpfs (template no-tmpfs)" sh -c "mount | grep -q ' on .*/$pot/m/tmp (tmpfs'"
refuse "the job cannot write 100 MiB to /tmp under a 64 MiB quota" in_jail 'dd if=/dev/random of=/tmp/fill bs=1m count=100'
in_jail 'rm -f /tmp/fill' >/dev/null 2>&1

# rctl limits are enforced.
rctl -a "jail:$pot:maxproc:deny=20" "jail:$pot:memoryuse:deny=67108864" "jail:$pot:memoryuse:log=67108864"
refuse "maxproc limit: 40 background processes cannot start" in_jail 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done'
pkill -KILL -j "$pot"
before=$(dmesg -a | grep -c "rule \"jail:$pot:memoryuse:log=")
in_jail 'x=$(head -c 300000000 /dev/zero | tr "\0" a); echo ${#x}' >/dev/null 2>&1
after=$(dmesg -a | grep -c "rule \"jail:$pot:memoryuse:log=")
if [ "$after" -gt "$before" ]; then pass "memory limit reported by rctl (dmesg)"; else fail "no rctl report of the memory limit in dmesg"; fi

# Cleanup after kill: nothing of a killed job survives, the jail and its mounts go.
pot exec -d -p "$pot" -U "$user" /bin/sh -c 'sleep 600 & sleep 601'
sleep 1
check "a job's processes are in the jail" pgrep -j "$pot" sleep
pkill -TERM -j "$pot"; sleep 1; pkill -KILL -j "$pot"
refuse "no process left after pkill -KILL -j" pgrep -j "$pot" sleep
pot stop -p "$pot"
refuse "the jail is gone after pot stop" jls -j "$pot"
refuse "the job directory is unmounted after pot stop" sh -c "mount | grep -q ' on .*/$pot/m/job '"
rctl -r "jail:$pot"
refuse "no rctl rule left for the jail" sh -c "rctl | grep -q 'jail:$pot:'"
pot revert -p "$pot"
fscomp="$(pot config -q -g fs_root)/jails/$pot/conf/fscomp.conf"
refuse "revert drops the job mount from fscomp.conf" grep -q "$job" "$fscomp"

[ "$failed" = 0 ] && echo "all checks passed" || echo "some checks FAILED"
exit "$failed"
