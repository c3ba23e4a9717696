#!/bin/sh
# The flavour script of the kiln-build template: pot runs it once, as root inside the template,
# when `pot create -f kiln-build` makes it (share/pot/common-flv.sh _exec_flv, with the pot name as
# $1). It adds the unprivileged build user, turns every service off and takes setuid bits away, so
# that a job (always run as that user) cannot become root in its jail.
set -eu

# The build user; its name, uid and gid are those of pot-templates/default.json.
pw groupadd -n kiln -g 1001
pw useradd -n kiln -u 1001 -g 1001 -d /home/kiln -s /bin/sh -c "kiln build user"
mkdir -p /home/kiln
chown kiln:kiln /home/kiln

# No services: a build jail starts nothing (the template runs /usr/bin/true as its command).
sysrc -f /etc/rc.conf sendmail_enable=NONE syslogd_enable=NO cron_enable=NO sshd_enable=NO

# No way up: no setuid or setgid programs (su, passwd, crontab, ...).
find / -xdev -type f \( -perm -4000 -o -perm -2000 \) -exec chmod ug-s {} +

# Build tools beyond the base system's cc/c++/make come from packages here, while the template
# still has the host's network (clones have only a loopback address), for example:
#   ASSUME_ALWAYS_YES=yes pkg bootstrap -f && pkg install -y gmake
