# Plot of a benchmark run, for the README.  Called by bench/run.sh:
#   gnuplot -e "claim='claim.dat'; mp='mp.dat'; out='bench.png'; machine='...'" bench/plot.gp
# claim.dat: N  eng_med eng_min eng_max  rfc_med rfc_min rfc_max  mtx_med mtx_min mtx_max
#            (claim+release, ns per block)
# mp.dat:    label  eng_med rfc_med mtx_med   (two processes, successful claims/s)
if (!exists("claim") || !exists("mp") || !exists("out")) {
    print "usage: gnuplot -e \"claim='F'; mp='F'; out='F.png'\" plot.gp"
    exit status 2
}
if (!exists("machine")) machine = ""

set terminal pngcairo size 1400,560 font ",10"
set output out
set multiplot layout 1,2 title "mhsld engine vs baselines (median, bars min..max)  ".machine

set title "claim+release of one extent, uncontended (engine: mhsld\\_claim + mhsld\\_release)"
set logscale xy
set xlabel "extent N (blocks)"
set ylabel "ns per block (lower is better)"
set grid
set key top right
set xrange [0.7:6000]
plot claim using 1:2:3:4 with yerrorlines lw 2 pt 7 title "engine", \
     claim using 1:5:6:7 with yerrorlines lw 2 pt 5 title "RFC byte map + CAS", \
     claim using 1:8:9:10 with yerrorlines lw 2 pt 9 title "robust mutex"

unset logscale
unset xrange
set title "two processes, random extents, 2 cores"
set logscale y
set xlabel "device blocks / extent sizes"
set ylabel "successful claims per second (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -20
set key top right
plot mp using 2:xtic(1) title "engine", \
     mp using 3 title "RFC byte map + CAS", \
     mp using 4 title "robust mutex"
unset multiplot
