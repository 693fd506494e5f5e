#!/bin/bash
# perl builds, rewrites and sorts large hashes and strings (a hash-heavy
# one-liner), plainly and under memf-run; output and exit codes must match.
#
# usage: perl.sh PATH-TO-memf-run
source "$(dirname "$0")/common.sh"
setup "$@"
require_prog perl perl-base
check_memf_active

PROG='
my %h;
for my $i (1 .. 400000) {
    my $k = "k" . (($i * 7919) % 1000003);
    $h{$k} .= "v$i,";
}
delete $h{$_} for grep { /7$/ } keys %h;
my %inv;
while (my ($k, $v) = each %h) { push @{ $inv{length $v} }, $k }
my $s = 0;
for my $k (sort keys %h) { $s = ($s * 31 + length($k) + ord($h{$k})) % 4294967291 }
my @top = (sort { $b <=> $a } keys %inv)[0 .. 4];
my $joined = join "", map { scalar reverse $_ } sort keys %h;
my %words;
$words{$_}++ for ($joined =~ /(\d{3})/g);
my @common = (sort { $words{$b} <=> $words{$a} || $a cmp $b } keys %words)[0 .. 9];
print scalar(keys %h), " $s\n";
print "lengths @top\n";
print "joined ", length($joined), "\n";
print "common @common\n";
print "counts @words{@common}\n";
'
run_both perl perl -e "$PROG"
expect_rc perl plain 0
compare perl
