#!/usr/bin/perl
# Rewrites the kernel launches of a src/cuda .cu file for the CPU emulator (tests/cuda/CMakeLists.txt):
#   kernel<T><<<grid, block, smem, stream>>>(args...)  ->  ::tt::emu::Launch(grid, block, smem, stream).run(kernel<T>, args...)
# Nothing else changes, newlines included, and a #line directive keeps compiler messages and __FILE__ /
# __LINE__ (CUDA_CHECK's error text) pointing at the .cu file. Fails on any launch it does not understand.
#   usage: rewrite_launches.pl <in.cu> <out.cpp>
use strict;
use warnings;

my ($in, $out) = @ARGV;
die "usage: rewrite_launches.pl <in.cu> <out.cpp>\n" unless defined $out;
open(my $fh, '<', $in) or die "$in: $!\n";
my $src = do { local $/; <$fh> };
close $fh;

$src =~ s/(\b[A-Za-z_]\w*(?:<[^<>;(){}]*>)?)\s*<<<(.*?)>>>\(/::tt::emu::Launch($2).run($1, /gs;
if ($src =~ /(<<<|>>>)/) {
  my $line = 1 + (() = substr($src, 0, $-[0]) =~ /\n/g);
  die "$in:$line: a kernel launch rewrite_launches.pl does not understand\n";
}
open(my $oh, '>', "$out.tmp") or die "$out.tmp: $!\n";
print $oh "#line 1 \"$in\"\n", $src;
close $oh or die "$out.tmp: $!\n";
rename("$out.tmp", $out) or die "$out: $!\n";
