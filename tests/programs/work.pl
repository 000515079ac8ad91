# work.pl -- a Perl workload for the real-program test: text generation,
# hashes, regular expressions and sorting; prints checksums only.
use strict;
use warnings;

my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed >> 8; }

my @syll = qw(ka lo mi ne ru sa ti vo we xy zu an el ir on ul);
my @words;
for (1 .. 20000) {
    my $w = '';
    $w .= $syll[rnd() % @syll] for 1 .. (1 + rnd() % 4);
    push @words, $w;
}

my @lines;
for my $i (1 .. 60000) {
    my @l = map { $words[rnd() % @words] } 1 .. (3 + rnd() % 10);
    push @lines, join(' ', @l) . " #$i";
}
my $text = join("\n", @lines) . "\n";

my %freq;
$freq{$_}++ for ($text =~ /\b([a-z]+)\b/g);
my @top = (sort { $freq{$b} <=> $freq{$a} or $a cmp $b } keys %freq)[0 .. 19];
print "words ", scalar(keys %freq), " top @top[0..4]\n";
print "topcounts ", join(',', map { $freq{$_} } @top), "\n";

(my $t2 = $text) =~ s/\b(\w)(\w*)\b/\U$1\E$2/g;
$t2 =~ s/(ka|lo)+/<$&>/g;
my $n = () = $t2 =~ /<[^>]+>/g;
print "subst ", length($t2), " marks $n sum ", unpack("%32C*", $t2), "\n";

my %bylen;
push @{ $bylen{length $_} }, $_ for @words;
for my $len (sort { $a <=> $b } keys %bylen) {
    my @s = sort @{ $bylen{$len} };
    printf "len %2d: %5d first %s last %s\n", $len, scalar @s, $s[0], $s[-1];
}

my @recs = map { { id => $_, key => $words[rnd() % @words], v => rnd() % 100000 } } 1 .. 150000;
my @sorted = sort { $a->{key} cmp $b->{key} or $b->{v} <=> $a->{v} or $a->{id} <=> $b->{id} } @recs;
my $cs = 0;
$cs = ($cs * 31 + $_->{id}) % 1000000007 for @sorted;
print "records ", scalar @sorted, " checksum $cs\n";

my %h;
for my $r (@recs) { $h{"$r->{key}:" . ($r->{v} % 97)} .= "$r->{id},"; }
delete $h{$_} for grep { length($h{$_}) < 8 } keys %h;
my $tot = 0;
$tot += length($h{$_}) for keys %h;
print "hash ", scalar(keys %h), " $tot\n";
