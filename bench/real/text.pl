#!/usr/bin/perl
# Text-processing Perl workload for the allocator benchmarks.
# Usage: perl text.pl N   (N lines of generated text)
use strict;
use warnings;

my $n = shift // 200000;
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }

my @syll = qw(ka lo mi ne ru sa to vi wa ze an el is or um);
my @vocab;
for my $i (0 .. 4999) {
    my $w = '';
    $w .= $syll[rnd() % @syll] for 0 .. (1 + rnd() % 4);
    push @vocab, $w;
}

my @lines;
for my $i (1 .. $n) {
    my $len = 4 + rnd() % 12;
    push @lines, join ' ', map { $vocab[(rnd() >> 4) % @vocab] } 1 .. $len;
}

my (%freq, %pairs, %bylen);
for my $line (@lines) {
    my @w = split / /, $line;
    $freq{$_}++ for @w;
    $pairs{"$w[$_] $w[$_+1]"}++ for 0 .. $#w - 1;
    push @{ $bylen{ length $line } }, $line;
}

my $out = '';
for my $line (@lines) {
    (my $t = $line) =~ s/\b(\w)(\w*)/\U$1\E$2/g;
    $t =~ s/(ka|lo)/<$1>/g;
    $out .= $t . "\n" if length($out) < 50_000_000;
}

my @top = (sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq)[0 .. 9];
my ($bestpair, $bestcount) = ('', 0);
while (my ($k, $v) = each %pairs) {
    ($bestpair, $bestcount) = ($k, $v) if $v > $bestcount || ($v == $bestcount && $k lt $bestpair);
}
my %index;
for my $i (0 .. $#lines) {
    my $first = substr($lines[$i], 0, index($lines[$i], ' '));
    push @{ $index{$first} }, $i;
}
my $groups = 0;
$groups += scalar @{ $bylen{$_} } for keys %bylen;
undef @lines;
printf "checksum %d %d %d %d %s %s\n", scalar(keys %freq), scalar(keys %pairs),
    $groups, length($out), join(',', @top), $bestpair;
