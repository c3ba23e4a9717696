# The sandbox launcher of builders/linux/launcher.ts (its header says why and how): one per
# builder process, root, started once. It reads requests on stdin and answers on stdout:
#
#   s <id> <uid> <gid> <fds> <status fd> <args fd>:<bytes> <seccomp fd>:<bytes> <argv bytes>\n
#       then the bytes of bwrap's options (NUL-separated), of the seccomp program, of the argv
#       (NUL-separated). <fds> is "<n><dir><fd>,...": descriptor n of the sandbox is the
#       builder's descriptor fd, reopened through /proc/<builder>/fd/<fd> for reading (<) or
#       writing (>). A seccomp length of 0: no seccomp descriptor.
#   g <id>\n   the start may go on (the builder has moved it into the job's cgroup)
#   k <id>\n   the start is cancelled (its child exits 125 without starting anything)
#   f <id> <uid> <gid> <count> <dir>\n
#              make FIFOs <dir>/0 .. <dir>/<count - 1>, mode 0600, owned by <uid>:<gid> (the
#              builder opens both ends and removes them; the sandbox reopens its ends as that uid)
#
#   c <id> <pid>\n                once the child has its descriptors and waits for g or k
#   x <id> e <code> <status>\n    once it ended: exit code (s <signal number> if killed), and
#                                 what bwrap wrote on its status descriptor (on one line)
#   f <id> ok\n                   the FIFOs are made (else f <id> <why>: none is left behind)
#   w <id> <why>\n                a child that could not start says why, before its x (the same
#                                 pipe, so the reason is there when the builder reads the x)
#
# Each start is a watcher process (which reports x) and its child, which becomes bwrap as the
# job's uid and gid: no fork of the builder per job. At the end of its input (the builder is gone)
# the launcher kills its whole process group: every bwrap it started (bwrap's --die-with-parent
# takes the sandbox's processes with it).
use strict;
use warnings;
use POSIX ();

my $builder = getppid();
my %gate;    # id => the write end of its child's gate pipe
binmode STDIN;
binmode STDOUT;
$| = 1;

my $child_id;    # in a start's child: its id, so that a failure is told on stdout too

sub fail {
  my ($why) = @_;
  print STDERR "kiln launcher: $why\n";
  if (defined $child_id) { $why =~ s/\s+/ /g; print STDOUT "w $child_id $why\n" }
  POSIX::_exit(125);
}

# Exactly $n bytes of stdin, or undef at its end.
sub bytes {
  my ($n) = @_;
  my $buf = '';
  while (length($buf) < $n) {
    my $got = read(STDIN, $buf, $n - length($buf), length($buf));
    return undef unless $got;
  }
  return $buf;
}

# A descriptor holding $data from its start: an anonymous (already unlinked) file.
sub file_of {
  my ($data) = @_;
  open(my $fh, '+>', undef) or fail("cannot make a temporary file: $!");
  defined(syswrite($fh, $data)) or fail("cannot write a temporary file: $!");
  sysseek($fh, 0, 0) or fail("cannot rewind a temporary file: $!");
  return $fh;
}

# Makes the FIFOs of an f request; answers undef, or why not (then none is left).
sub fifos {
  my ($uid, $gid, $count, $dir) = @_;
  my @made;
  for my $i (0 .. $count - 1) {
    my $p = "$dir/$i";
    my $ok = POSIX::mkfifo($p, 0600) && chmod(0600, $p) && chown($uid, $gid, $p);
    push @made, $p if $ok || -p $p;
    next if $ok;
    my $why = "cannot make FIFO $p: $!";
    unlink @made;
    return $why;
  }
  return undef;
}

# The child: takes its descriptors, says so, waits at the gate, drops to the job's ids, execs bwrap.
sub child {
  my ($id, $uid, $gid, $fds, $status_fd, $status_w, $args, $seccomp, $argv, $gate) = @_;
  $child_id = $id;
  my @kept;    # filehandles whose descriptors were moved (kept open until the moves are done)
  my @moves;
  # First at 20 + n, so that no descriptor overwrites another one still to be moved.
  my $take = sub {
    my ($from, $n) = @_;
    POSIX::dup2($from, 20 + $n) // fail("cannot move descriptor $from: $!");
    push @moves, $n;
  };
  for my $spec (split /,/, $fds) {
    my ($n, $dir, $from) = $spec =~ /^(\d)([<>])(\d+)$/ or fail("bad descriptor $spec");
    my $mode = $dir eq '<' ? POSIX::O_RDONLY() : POSIX::O_WRONLY();
    my $fd = POSIX::open("/proc/$builder/fd/$from", $mode) // fail("cannot open descriptor $from: $!");
    $take->($fd, $n);
    POSIX::close($fd);
  }
  my $null = POSIX::open('/dev/null', POSIX::O_RDONLY()) // fail("cannot open /dev/null: $!");
  $take->($null, 0);
  POSIX::close($null);
  $take->(fileno($status_w), $status_fd);
  for ($args, $seccomp) {
    my ($n, $data) = @$_;
    next unless defined $n;
    my $fh = file_of($data);
    $take->(fileno($fh), $n);
    push @kept, $fh;
  }
  print STDOUT "c $id $$\n";
  my $go = '';
  sysread($gate, $go, 3);
  POSIX::_exit(125) unless $go eq "go\n";
  for my $n (@moves) {
    POSIX::dup2(20 + $n, $n) // fail("cannot move descriptor $n: $!");
    POSIX::close(20 + $n);
  }
  # Every other descriptor this process has was opened by Perl with close-on-exec.
  $) = "$gid $gid";
  POSIX::setgid($gid) or fail("cannot set gid $gid: $!");
  POSIX::setuid($uid) or fail("cannot set uid $uid: $!");
  my $real_gid = (split ' ', $()[0];
  fail("not $uid:$gid with groups $gid") unless $< == $uid && $> == $uid && $real_gid == $gid && "$)" eq "$gid $gid";
  { no warnings 'exec'; exec { $argv->[0] } @$argv; }
  print STDERR "kiln launcher: cannot run $argv->[0]: $!\n";
  POSIX::_exit(127);
}

# The watcher: starts the child, reads bwrap's status to its end, reaps the child, reports.
sub watcher {
  my ($id, $gate, @rest) = @_;
  pipe(my $status_r, my $status_w) or fail("cannot make a pipe: $!");
  my $pid = fork() // do { print "x $id e 125\n"; POSIX::_exit(0) };
  if ($pid == 0) {
    close $status_r;
    child($id, @rest[0 .. 3], $status_w, @rest[4 .. 6], $gate);
  }
  close $status_w;
  close $gate;
  my $status = '';
  1 while sysread($status_r, $status, 4096, length $status);
  waitpid($pid, 0);
  my $how = $? & 127 ? 's ' . ($? & 127) : 'e ' . ($? >> 8);
  $status =~ s/\s+/ /g;
  print "x $id $how $status\n";
  POSIX::_exit(0);
}

while (defined(my $line = <STDIN>)) {
  chomp $line;
  my ($op, $id, @f) = split / /, $line;
  if ($op eq 'f') {
    my ($uid, $gid, $count) = @f[0 .. 2];
    my $dir = join ' ', @f[3 .. $#f];
    my $why = "$uid $gid $count" =~ /^\d+ \d+ \d+$/ && $dir ne '' ? fifos($uid, $gid, $count, $dir) : 'bad request';
    $why =~ s/\s+/ /g if defined $why;
    print 'f ', $id, ' ', $why // 'ok', "\n";
  } elsif ($op eq 'g' || $op eq 'k') {
    my $w = delete $gate{$id};
    syswrite($w, "go\n") if $w && $op eq 'g';
  } elsif ($op eq 's') {
    my ($uid, $gid, $fds, $status_fd, $a, $s, $argv_len) = @f;
    my ($a_fd, $a_len) = split /:/, $a;
    my ($s_fd, $s_len) = split /:/, $s;
    my $args = bytes($a_len) // last;
    my $seccomp = bytes($s_len) // last;
    my $argv = bytes($argv_len) // last;
    pipe(my $gate_r, my $gate_w) or do { print STDERR "kiln launcher: pipe: $!\n"; print "x $id e 125\n"; next };
    my $pid = fork();
    if (!defined $pid) {
      print STDERR "kiln launcher: fork: $!\n";
      print "x $id e 125\n";
      next;
    }
    if ($pid == 0) {
      close $gate_w;
      close $_ for values %gate;
      watcher($id, $gate_r, $uid, $gid, $fds, $status_fd, [$a_fd, $args],
        [$s_len > 0 ? ($s_fd, $seccomp) : ()], [split /\0/, $argv]);
    }
    close $gate_r;
    $gate{$id} = $gate_w;
  }
  1 while waitpid(-1, POSIX::WNOHANG()) > 0;
}
kill 'KILL', -$$;
