#!/usr/bin/env bash
# Print SIZE_KB kilobytes of deterministic, compressible pseudo-text (words
# from an LCG, line numbers, some hex) for the bzip2 workload.
# Usage: gen-data.sh [SIZE_KB]
kb=${1:-3072}
awk -v kb="$kb" 'BEGIN{
  split("the of and to in is was that for on as with by at from his an were are which this be or has had not but first one their its new after who they have her she two been other when there all during into school time may years more most only over city some world would where later up such used many can state about national out known university united then made", w, " ");
  nw = length(w); s = 42; total = 0; line = 0;
  while (total < kb * 1024) {
    line++; out = sprintf("%08d ", line);
    for (k = 0; k < 12; k++) { s = (s * 1103515245 + 12345) % 2147483648; v = int(s / 65536);
      out = out w[v % nw + 1] ((v % 17 == 0) ? sprintf(" %x", s) : "") " " }
    print out; total += length(out) + 1 }
}' | head -c $((kb * 1024))
