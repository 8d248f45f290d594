# Runs the given command with a datagram socket connected to $NOTIFY_SOCKET
# open as $NOTIFY_FD. exec keeps the pid, so every sd_notify message the
# daemon writes to that socket comes from the unit's main process, which is
# all NotifyAccess=main accepts (Node cannot open AF_UNIX datagram sockets).
use strict;
use warnings;
use Socket qw(PF_UNIX SOCK_DGRAM pack_sockaddr_un);

my $sock;
my $path = $ENV{NOTIFY_SOCKET} // "";
if ($path ne "") {
  $path =~ s/^@/\0/;
  $^F = 1 << 20;    # descriptors up to this stay open across exec
  socket($sock, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!\n";
  connect($sock, pack_sockaddr_un($path)) or die "connect $ENV{NOTIFY_SOCKET}: $!\n";
  $ENV{NOTIFY_FD} = fileno($sock);
}
exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";
