# GNU sed workload for the bench and tests (regular expressions and string
# building over tests/rvgen/programs/gen-data.sh's text, sed -E -f work.sed):
# captures and back-references, alternation, classes, case conversion, the
# hold space, appends.
# swap the first two words after the line number
s/^([0-9]{8}) ([a-z]+) ([a-z]+)/\1 \3 \2/
# hex numbers (a digit and a letter in them) in brackets, upper case
s/ ([0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*|[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*)( |$)/ [\U\1\E]\2/g
# a word said twice in a row once
s/\b([a-z]+) \1\b/\1/g
# words starting with a vowel capitalised, "the X" as "X-the"
s/\b([aeiou])([a-z]*)/\u\1\2/g
s/\bthe ([a-zA-Z]+)/\1-the/g
# lines where university comes before city (backtracking): marked
/[Uu]niversity.*\bcity\b/s/$/ <u..c>/
# every line ending in a vowel: keep it in the hold space, printed with the
# next line that has a bracket
/[aeiouAEIOU] $/{h;d}
/\[/{G;s/\n/ | /}
# the line number as sum-of-parts: 00001234 -> 1234:4
s/^0*([0-9]+)/\1:#\1#/
s/#[0-9]*([0-9])#/\1/
