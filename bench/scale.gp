# The scale curve (scripts/bench --scale): how flowtiles' costs grow with
# the number of presence records. gnuplot -e "csv='docs/scale.csv'; out='docs/scale.png'" bench/scale.gp
set datafile separator ","
set terminal pngcairo size 1400,900 font "DejaVu Sans,12"
set output out
set multiplot layout 2,2 title "flowtiles: cost against data size (density tiles, one month, zooms 12-17; uncached)" font ",15"
set logscale xy 10
set xrange [700000:150000000]
set xlabel "presence records (log scale)"
set format x "%.0s%c"
set grid
set key bottom right noreverse Right
set title "Tile latency"
set ylabel "ms (log scale)"
if (exists("kept")) {
set key top left Left reverse
plot csv using 1:4 skip 1 with linespoints lw 2 pt 7 title "p50, no aggregates kept (saturated: mostly empty tiles)", \
     csv using 1:5 skip 1 with linespoints lw 2 pt 5 title "p99, no aggregates kept", \
     csv using 1:8 skip 1 with linespoints lw 2 pt 7 dt 2 title "p50, aggregates kept", \
     csv using 1:9 skip 1 with linespoints lw 2 pt 5 dt 2 title "p99, aggregates kept"
} else {
plot csv using 1:4 skip 1 with linespoints lw 2 pt 7 title "p50 (under saturation: mostly the empty tiles)", \
     csv using 1:5 skip 1 with linespoints lw 2 pt 5 title "p99"
}
set title "Uncached tile throughput"
set ylabel "tiles/s (log scale)"
if (exists("kept")) {
set key bottom left Left reverse
plot csv using 1:6 skip 1 with linespoints lw 2 pt 7 title "tiles/s, no aggregates kept (wrk, 32 connections)", \
     csv using 1:10 skip 1 with linespoints lw 2 pt 5 dt 2 title "tiles/s, aggregates kept"
} else {
plot csv using 1:6 skip 1 with linespoints lw 2 pt 7 title "tiles/s (wrk, 32 connections)"
}
set key bottom right noreverse Right
set title "/api/stats latency (30 days by hour, p50)"
set ylabel "ms (log scale)"
plot csv using 1:7 skip 1 with linespoints lw 2 pt 7 title "stats p50"
set title "Server start-up and memory"
set ylabel "seconds (log scale)"
set y2label "MiB (log scale)"
set logscale y2 10
set y2tics
plot csv using 1:2 skip 1 with linespoints lw 2 pt 7 axes x1y1 title "start-up (load into memory), s", \
     csv using 1:3 skip 1 with linespoints lw 2 pt 5 axes x1y2 title "resident memory, MiB"
unset multiplot
