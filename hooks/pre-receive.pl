#!/usr/bin/perl
# slugforge's pre-receive hook, in Perl: hooks/pre-receive.pl in slugforge's repository, which the
# server copies into its hooks folder at every start (installHooks in src/git/hook-shim.ts) wherever
# the system perl packs unix socket addresses as below; elsewhere hooks/pre-receive.cjs is used.
# Edit that file, not an installed copy.
#
# A bridge only: it carries the ref lines and the quarantine paths to the server over its unix
# socket (HTTP/1.1), copies the answer to stdout as it comes with the control records cut out, and
# exits 0 only on the ok status record. It starts in about 2 ms where node takes 70, and every push
# pays it once, so it stays on Perl's built-ins: loading Socket, IO::Socket::UNIX, IO::Select, Cwd
# and warnings took 20 ms of every push. `perl -Mstrict -Mwarnings -c` checks it (npm run lint).
use strict;

# Constants. installHooks rewrites each line marked "slugforge:constant" with the value of the same
# name from src/git/hook-protocol.ts, or the system perl's Socket (PF_UNIX, SOCK_STREAM): found once,
# at install, so no push loads Socket. The values here are the protocol's and Linux's, so the file
# runs as it is; a unit test keeps them equal.
my $CONTROL = "\x{00}SLUGFORGE-";                    # slugforge:constant
my $ROUTE = "/pre-receive";                          # slugforge:constant
my $SOCKET_VAR = "SLUGFORGE_HOOK_SOCKET";            # slugforge:constant
my $TOKEN_VAR = "SLUGFORGE_PUSH_TOKEN";              # slugforge:constant
my $APP_VAR = "SLUGFORGE_APP";                       # slugforge:constant
my $IDLE_TIMEOUT_VAR = "SLUGFORGE_HOOK_IDLE_TIMEOUT_MS"; # slugforge:constant
my $PF_UNIX = 1;                                     # slugforge:constant
my $SOCK_STREAM = 1;                                 # slugforge:constant

$SIG{PIPE} = 'IGNORE';    # the pusher went away: writes fail quietly
$| = 1;
sub say_line { print STDOUT $_[0], "\n"; }
sub fail { say_line("!     " . $_[0]); exit 1; }

my $socket_path = $ENV{$SOCKET_VAR};
my $token = $ENV{$TOKEN_VAR};
my $idle_ms = ($ENV{$IDLE_TIMEOUT_VAR} // '') =~ /^(\d+)$/ && $1 > 0 ? $1 : 120000;
fail("slugforge: this repository is served by slugforge; push through its HTTP URL.") unless $socket_path && $token;

sub js {
  my ($s) = @_;
  $s =~ s/(["\\])/\\$1/g;
  $s =~ s/([\x00-\x1f])/sprintf("\\u%04x", ord($1))/ge;
  return '"' . $s . '"';
}
my @refs;
while (my $line = <STDIN>) {
  chomp $line;
  next if $line eq '';
  my ($old, $new, $ref) = split / /, $line;
  push @refs, '{"old":' . js($old // '') . ',"new":' . js($new // '') . ',"ref":' . js($ref // '') . '}';
}
my @options = map { js($ENV{"GIT_PUSH_OPTION_$_"} // '') } 0 .. (($ENV{GIT_PUSH_OPTION_COUNT} // 0) =~ /^(\d+)$/ ? $1 - 1 : -1);
my $cwd = readlink('/proc/self/cwd');
if (!defined $cwd) { require Cwd; $cwd = Cwd::getcwd(); }
my $body = '{"app":' . js($ENV{$APP_VAR} // '') . ',"cwd":' . js($cwd // '') . ',"refs":[' . join(',', @refs) . ']';
for my $pair (['objectDirectory', 'GIT_OBJECT_DIRECTORY'], ['alternateObjectDirectories', 'GIT_ALTERNATE_OBJECT_DIRECTORIES'], ['quarantinePath', 'GIT_QUARANTINE_PATH']) {
  $body .= ',"' . $pair->[0] . '":' . js($ENV{$pair->[1]}) if defined $ENV{$pair->[1]};
}
$body .= ',"pushOptions":[' . join(',', @options) . ']}';

# struct sockaddr_un: the family, then the path in 108 bytes (as Socket's pack_sockaddr_un makes it).
my $sock;
socket($sock, $PF_UNIX, $SOCK_STREAM, 0) && connect($sock, pack('S a108', $PF_UNIX, $socket_path))
  or fail("slugforge: cannot reach the build server ($!); the push was rejected. Is slugforge running?");
my $request = "POST $ROUTE HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
  . "Content-Length: " . length($body) . "\r\nAuthorization: Bearer $token\r\nConnection: close\r\n\r\n" . $body;
while (length $request) {
  my $n = syswrite($sock, $request);
  fail("slugforge: the connection to the build server broke; the push was rejected.") unless defined $n;
  substr($request, 0, $n) = '';
}

my ($code, $chunked, $status);
my $head = '';
my $raw = '';         # body bytes not decoded yet (chunked framing)
my $pending = '';     # a control record cut by a read
my $done = 0;
sub emit {
  my $text = $pending . $_[0];
  $pending = '';
  my $out = '';
  while (1) {
    my $at = index($text, "\0");
    if ($at < 0) { $out .= $text; last; }
    $out .= substr($text, 0, $at);
    my $end = index($text, "\n", $at);
    if ($end < 0) { $pending = substr($text, $at); last; }
    my $record = substr($text, $at, $end - $at);
    $status = substr($record, length($CONTROL) + 7) if index($record, $CONTROL . "STATUS ") == 0;
    $text = substr($text, $end + 1);
  }
  print STDOUT $out if length $out;
}
sub decode {
  if (!$chunked) { emit($raw); $raw = ''; return; }
  while (!$done) {
    my $eol = index($raw, "\r\n");
    return if $eol < 0;
    my $size = hex(substr($raw, 0, $eol));
    if ($size == 0) { $done = 1; return; }
    return if length($raw) < $eol + 2 + $size + 2;
    emit(substr($raw, $eol + 2, $size));
    substr($raw, 0, $eol + 2 + $size + 2) = '';
  }
}
my $watch = '';
vec($watch, fileno($sock), 1) = 1;
while (!$done) {
  my $ready = select(my $readable = $watch, undef, undef, $idle_ms / 1000);
  next if $ready < 0 && $!{EINTR};
  fail("slugforge: the build server stopped answering (no output for " . int($idle_ms / 1000 + 0.5) . " s); the push was rejected. Try again.")
    unless $ready > 0;
  my $n = sysread($sock, my $buf, 65536);
  fail("slugforge: the connection to the build server broke; the push was rejected.") unless defined $n;
  last if $n == 0;
  if (!defined $code) {
    $head .= $buf;
    my $end = index($head, "\r\n\r\n");
    next if $end < 0;
    my $headers = substr($head, 0, $end);
    ($code) = $headers =~ m{^HTTP/\d\.\d (\d+)};
    $code //= 0;
    $chunked = $headers =~ /^transfer-encoding:\s*chunked/im ? 1 : 0;
    $buf = substr($head, $end + 4);
  }
  $raw .= $buf;
  decode();
}
fail("slugforge: the build server refused the hook (HTTP " . ($code // 0) . ").") if ($code // 0) != 200;
exit 0 if defined $status && $status eq 'ok';
fail("slugforge: the build server's answer ended early; the push was rejected. Try again.") unless defined $status;
exit 1;
